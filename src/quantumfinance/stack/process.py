"""Processes the stack starts: a pid file per service, so `down` stops exactly what `up` started."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


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


def pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, or our own exited child once reaped, does not count)."""
    try:
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
    stop_timeout: float = 15

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
        return pid is not None and pid_alive(pid)

    def stop(self) -> None:
        """SIGTERM our process group (pgid == our pid), SIGKILL if it lingers; drop the pid file."""
        pid = self.pid()
        if pid is not None and pid_alive(pid):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + self.stop_timeout
                while pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if not pid_alive(pid):
                    break
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL our process group at once, as a crash would (fault injection); then wait."""
        pid = self.pid()
        if pid is not None and pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            wait_for(lambda: not pid_alive(pid), 15, f"{self.name} to die", self.log_file)
        self.pid_file.unlink(missing_ok=True)


def write_secret(path: Path, text: str) -> Path:
    """Write ``text`` to a file only its owner can read, created so from the start (a secret
    never sits in a world-readable file, not even between writing and chmod)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)  # an existing file keeps its mode on O_CREAT
        handle.write(text)
    return path
