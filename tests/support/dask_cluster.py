"""A REAL Dask cluster for tests: a ``dask scheduler`` and two ``dask worker`` processes on
127.0.0.1 with free ports (not a LocalCluster inside the test process).

``scheduler_command`` / ``worker_command`` are the command lines, so that the stack's
supervisor (``make stack-up``) can start the same processes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from distributed import Client

from tests.support.services import BackgroundProcess, free_port, port_open, wait_until

DASK = str(Path(sys.executable).with_name("dask"))


def scheduler_command(port: int, dashboard_port: int, host: str = "127.0.0.1") -> list[str]:
    """``dask scheduler`` on ``host:port`` with its dashboard on ``dashboard_port``."""
    return [
        DASK, "scheduler", "--host", host, "--port", str(port),
        "--dashboard-address", f"{host}:{dashboard_port}",
    ]  # fmt: skip


def worker_command(scheduler: str, name: str, memory_limit: str = "2GiB") -> list[str]:
    """One single-threaded ``dask worker`` process (no nanny restarts: a kill stays a kill)."""
    return [
        DASK, "worker", scheduler, "--name", name, "--nthreads", "1", "--nworkers", "1",
        "--no-nanny", "--host", "127.0.0.1", "--memory-limit", memory_limit,
        "--no-dashboard",
    ]  # fmt: skip


@dataclass
class DaskCluster:
    """A running scheduler and its workers."""

    address: str
    dashboard: str
    scheduler: BackgroundProcess
    workers: dict[str, BackgroundProcess] = field(default_factory=dict)

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        self.scheduler.stop()


def _workers_connected(address: str, count: int) -> bool:
    with Client(address, timeout="5s") as client:
        return len(client.scheduler_info()["workers"]) >= count


@contextmanager
def dask_cluster(
    log_dir: Path, n_workers: int = 2, env: dict | None = None
) -> Iterator[DaskCluster]:
    """Start a scheduler and ``n_workers`` worker processes; stop them all afterwards."""
    port, dashboard_port = free_port(), free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = BackgroundProcess(
        scheduler_command(port, dashboard_port), log_dir / "dask-scheduler.log", env=env
    )
    cluster = DaskCluster(address, f"http://127.0.0.1:{dashboard_port}/status", scheduler)
    try:
        scheduler.wait_ready(lambda: port_open(port), 60, "dask scheduler")
        for number in range(n_workers):
            name = f"worker-{number}"
            cluster.workers[name] = BackgroundProcess(
                worker_command(address, name), log_dir / f"dask-{name}.log", env=env
            )
        wait_until(lambda: _workers_connected(address, n_workers), 90, "dask workers")
        yield cluster
    finally:
        cluster.stop()
