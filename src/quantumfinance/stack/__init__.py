"""No-Docker stack on 127.0.0.1: PostgreSQL, a durable S3 endpoint (SeaweedFS), the MLflow
tracking server and a Dask scheduler with two workers.

    python -m quantumfinance.stack up      # start (idempotent), write .stack.env, print the exports
    python -m quantumfinance.stack status  # which of our processes answer
    python -m quantumfinance.stack down    # stop exactly the processes `up` started

PostgreSQL holds MLflow's runs and registry; SeaweedFS keeps the versioned buckets `data` (Kedro
catalog), `mlflow` (artifacts, proxied by the MLflow server so clients need no S3 keys) and `dvc`
(DVC remote) on disk under the state dir, so a restart loses nothing. tests/support/stack.py starts
the same services on free ports.
"""

from quantumfinance.stack.core import (
    DEFAULT_PORTS,
    Stack,
    StackConfig,
    down,
    stack_from_state,
    status,
    up,
    write_env_file,
)
from quantumfinance.stack.dask_cluster import DaskCluster
from quantumfinance.stack.mlflow_server import MlflowServer, start_mlflow_server
from quantumfinance.stack.postgres import (
    MLFLOW_DATABASE,
    Postgres,
    postgres_bin_dir,
    start_postgres,
)
from quantumfinance.stack.process import HOST, Service, StackError, wait_for
from quantumfinance.stack.s3 import BUCKETS, REGION, S3Endpoint, start_s3

__all__ = [
    "BUCKETS",
    "DEFAULT_PORTS",
    "HOST",
    "MLFLOW_DATABASE",
    "REGION",
    "DaskCluster",
    "MlflowServer",
    "Postgres",
    "S3Endpoint",
    "Service",
    "Stack",
    "StackConfig",
    "StackError",
    "down",
    "postgres_bin_dir",
    "stack_from_state",
    "start_mlflow_server",
    "start_postgres",
    "start_s3",
    "status",
    "up",
    "wait_for",
    "write_env_file",
]
