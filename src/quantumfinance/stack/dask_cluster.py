"""A Dask scheduler and its workers (batch scoring, monitoring) as stack services.

Clients find the scheduler through QF_DASK_SCHEDULER (printed in `.stack.env`); unset, the
pipelines start a LocalCluster in their own process.
"""

from __future__ import annotations

import socket
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from quantumfinance.stack.process import HOST, Service, wait_for

WORKERS = 2


@dataclass
class DaskCluster:
    """`dask scheduler` on 127.0.0.1:port and `workers` single-process `dask worker`s."""

    state_dir: Path
    port: int
    workers: int = WORKERS

    def __post_init__(self) -> None:
        self.scheduler = Service("dask-scheduler", self.state_dir)
        self.worker_services = [
            Service(f"dask-worker-{n}", self.state_dir) for n in range(1, self.workers + 1)
        ]

    @property
    def address(self) -> str:
        return f"tcp://{HOST}:{self.port}"

    def scheduler_answers(self) -> bool:
        with closing(socket.create_connection((HOST, self.port), timeout=2)):
            return True

    def connected_workers(self) -> int:
        from distributed import Client  # noqa: PLC0415

        with Client(self.address, timeout=10) as client:
            return len(client.scheduler_info(n_workers=-1)["workers"])

    def start(self, worker_env: dict[str, str] | None = None) -> None:
        """Start the scheduler, then the workers with `worker_env` (the S3 endpoint and keys the
        partitions read and write with); each step is a no-op when its process already runs."""
        dask = [str(Path(sys.executable).with_name("dask"))]
        if not self.scheduler.running():
            self.scheduler.spawn(
                [*dask, "scheduler", "--host", HOST, "--port", str(self.port), "--no-dashboard"]
            )
        wait_for(self.scheduler_answers, 60, f"Dask scheduler on {self.address}",
                 self.scheduler.log_file)  # fmt: skip
        for worker in self.worker_services:
            if not worker.running():
                worker.spawn(
                    [*dask, "worker", self.address, "--host", HOST, "--nworkers", "1",
                     "--nthreads", "1", "--no-dashboard", "--name", worker.name],
                    env=worker_env,
                )  # fmt: skip
        wait_for(lambda: self.connected_workers() >= self.workers, 90,
                 f"{self.workers} Dask workers on {self.address}",
                 self.worker_services[-1].log_file)  # fmt: skip

    def running(self) -> bool:
        return self.scheduler.running()

    def stop(self) -> None:
        for worker in self.worker_services:
            worker.stop()
        self.scheduler.stop()
