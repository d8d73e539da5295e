"""`mlflow server` on PostgreSQL + s3://mlflow; only this process holds the S3 keys.

No secret on its command line (any user's `ps` shows it): the backend URI names no password,
libpq reads it from a 0600 passfile (PGPASSFILE); the S3 keys come in its environment."""

from __future__ import annotations

import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from quantumfinance.stack.postgres import MLFLOW_DATABASE, Postgres
from quantumfinance.stack.process import HOST, Service, wait_for
from quantumfinance.stack.s3 import REGION, S3Endpoint


@dataclass
class MlflowServer:
    """The tracking server: runs and registry in PostgreSQL, artifacts proxied to s3://mlflow."""

    service: Service
    port: int
    postgres: Postgres
    s3: S3Endpoint
    workers: int = 1

    @property
    def backend_uri(self) -> str:
        """MLflow's database, without the password (libpq reads it from ``passfile``)."""
        return self.postgres.dsn(MLFLOW_DATABASE, driver="psycopg", password=False)

    @property
    def passfile(self) -> Path:
        return self.service.state_dir / "mlflow.pgpass"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/health", timeout=3) as resp:
            return resp.status == 200

    def start(self) -> None:
        if self.service.running():
            return
        args = [sys.executable, "-m", "mlflow", "server", "--host", HOST, "--port", str(self.port)]
        args += ["--backend-store-uri", self.backend_uri, "--serve-artifacts"]
        args += ["--artifacts-destination", "s3://mlflow", "--workers", str(self.workers)]
        env = {
            "PGPASSFILE": str(self.postgres.write_passfile(self.passfile)),
            "MLFLOW_S3_ENDPOINT_URL": self.s3.url,
            "AWS_ACCESS_KEY_ID": self.s3.access_key,
            "AWS_SECRET_ACCESS_KEY": self.s3.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            # The job runner (GenAI scorers) would add ~8 huey processes we never use.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
        self.service.spawn(args, env)
        # First start runs MLflow's schema migrations on PostgreSQL: allow time on 2 cores.
        wait_for(self.healthy, 180, f"MLflow server on {self.url}", self.service.log_file)

    def stop(self) -> None:
        self.service.stop()


def start_mlflow_server(
    state_dir: Path, port: int, postgres: Postgres, s3: S3Endpoint, workers: int = 1
) -> MlflowServer:
    """Start the tracking server (backend `postgres`' MLflow database, artifacts proxied to S3)."""
    server = MlflowServer(Service("mlflow", state_dir), port, postgres, s3, workers)
    server.start()
    return server
