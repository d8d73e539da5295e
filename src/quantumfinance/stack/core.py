"""The whole stack: its state (secrets, ports), start order, the exports file, status."""

from __future__ import annotations

import json
import secrets
import shlex
import socket
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from quantumfinance.stack.dask_cluster import DaskCluster
from quantumfinance.stack.mlflow_server import MlflowServer
from quantumfinance.stack.postgres import (
    DEBIAN_PG_BIN,
    Postgres,
    postgres_bin_dir,
    service_user,
    start_postgres,
)
from quantumfinance.stack.process import HOST, Service, write_secret
from quantumfinance.stack.s3 import INTERNAL_PORTS, REGION, S3Endpoint, s3_service

DEFAULT_PORTS = {"postgres": 5432, "s3": 9000, "mlflow": 5000, "dask": 8786}
# Exports that hold a secret: written to the 0600 exports file, never printed.
SECRET_EXPORTS = frozenset({"AWS_SECRET_ACCESS_KEY", "QF_POSTGRES_DSN", "QF_AUDIT_DSN"})


def free_port() -> int:
    """An unused TCP port on 127.0.0.1 (for the internal listeners nobody configures)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class StackConfig:
    """Where the stack keeps its state and which ports it uses (persisted in state.json)."""

    state_dir: Path = field(default_factory=lambda: Path.cwd() / ".stack")
    env_file: Path = field(default_factory=lambda: Path.cwd() / ".stack.env")
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    def load_state(self) -> dict:
        """Secrets and ports of an earlier `up` (fresh random secrets and these ports otherwise)."""
        if self.state_file.exists():
            state = json.loads(self.state_file.read_text())
        else:
            state = {
                "pg_user": "quantumfinance",
                "pg_password": secrets.token_urlsafe(18),
                "s3_access_key": "qf" + secrets.token_hex(8),
                "s3_secret_key": secrets.token_urlsafe(30),
                "ports": dict(self.ports),
            }
        # States written before a service existed get its port now (then kept).
        for name, port in self.ports.items():
            state["ports"].setdefault(name, port)
        internal = state.setdefault("s3_internal_ports", {})
        for name in INTERNAL_PORTS:
            internal.setdefault(name, free_port())
        return state

    def save_state(self, state: dict) -> None:
        write_secret(self.state_file, json.dumps(state, indent=2))


@dataclass
class Stack:
    postgres: Postgres
    s3: S3Endpoint
    mlflow: MlflowServer
    dask: DaskCluster
    config: StackConfig | None = None

    def env(self) -> dict[str, str]:
        """What clients export: tracking URI, S3 endpoint + keys (catalog, DVC), DSN, Dask."""
        return {
            "MLFLOW_TRACKING_URI": self.mlflow.url,
            "AWS_ENDPOINT_URL_S3": self.s3.url,
            "AWS_ACCESS_KEY_ID": self.s3.access_key,
            "AWS_SECRET_ACCESS_KEY": self.s3.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "QF_S3_ENDPOINT_URL": self.s3.url,
            "QF_POSTGRES_DSN": self.postgres.dsn(),
            # Decision audit (table decision_audit) next to the registry it points at.
            "QF_AUDIT_DSN": self.postgres.dsn(),
            "QF_MODEL_URI": "models:/credit-score@champion",
            "QF_DASK_SCHEDULER": self.dask.address,
            # MLflow's client retries 5xx for minutes by default; a dead backend should fail soon.
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
            "KEDRO_DISABLE_TELEMETRY": "true",
        }

    def worker_env(self) -> dict[str, str]:
        """What a Dask worker needs to read and write a book on the S3 endpoint with s3fs (and
        to reach the tracking server): `up` may run in a shell that never sourced .stack.env."""
        env = self.env()
        keys = ("AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION", "MLFLOW_TRACKING_URI")  # fmt: skip
        return {key: env[key] for key in keys}

    def start(self) -> None:
        """Start in order of dependency; each step is a no-op when its process already runs."""
        self.postgres = start_postgres(
            self.postgres.root, self.postgres.port, self.postgres.user, self.postgres.password
        )
        self.s3.start()
        self.mlflow.start()
        self.dask.start(self.worker_env())

    def stop(self) -> None:
        """Stop in reverse order of dependency; each step touches only its own process."""
        self.dask.stop()
        self.mlflow.stop()
        self.s3.stop()
        self.postgres.stop()


def stack_from_state(config: StackConfig, state: dict) -> Stack:
    """Handles on the stack's services (started or not) from the saved state."""
    ports = state["ports"]
    bin_dir = postgres_bin_dir() or DEBIAN_PG_BIN
    pg = Postgres(
        root=config.state_dir / "postgres",
        port=ports["postgres"],
        user=state["pg_user"],
        password=state["pg_password"],
        bin_dir=bin_dir,
        os_user=service_user(bin_dir),
    )
    s3 = S3Endpoint(
        s3_service(config.state_dir),
        ports["s3"],
        state["s3_access_key"],
        state["s3_secret_key"],
        state["s3_internal_ports"],
    )
    server = MlflowServer(Service("mlflow", config.state_dir), ports["mlflow"], pg, s3)
    return Stack(pg, s3, server, DaskCluster(config.state_dir, ports["dask"]), config)


def up(config: StackConfig) -> Stack:
    """Start what is not running yet, wait for health, write the exports file."""
    state = config.load_state()
    config.save_state(state)
    stack = stack_from_state(config, state)
    stack.start()
    write_env_file(config.env_file, stack.env())
    return stack


def down(config: StackConfig) -> None:
    """Stop exactly the processes `up` started; the state dir (all data) stays."""
    if config.state_file.exists():
        stack_from_state(config, config.load_state()).stop()


def status(config: StackConfig) -> dict[str, str]:
    """One line per service: up, or DOWN with the address that did not answer."""
    if not config.state_file.exists():
        return {"stack": "not started (run `make stack-up`)"}
    stack = stack_from_state(config, config.load_state())
    checks = {
        "postgres": (stack.postgres.accepts_connections, f"{HOST}:{stack.postgres.port}"),
        "s3": (stack.s3.answers, stack.s3.url),
        "mlflow": (stack.mlflow.healthy, stack.mlflow.url),
        "dask": (stack.dask.scheduler_answers, stack.dask.address),
    }
    report = {}
    for name, (check, where) in checks.items():
        try:
            report[name] = f"up at {where}" if check() else f"DOWN at {where}"
        except Exception as exc:  # noqa: BLE001 - report, don't crash, on a dead service
            report[name] = f"DOWN at {where} ({type(exc).__name__})"
    return report


def write_env_file(path: Path, env: dict[str, str]) -> None:
    """`source .stack.env` exports the stack's variables (file is git-ignored, mode 600)."""
    lines = [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    write_secret(path, "# written by `make stack-up`; git-ignored\n" + "\n".join(lines) + "\n")
