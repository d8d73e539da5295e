"""Shared helpers for tests that need real services (PostgreSQL, S3 endpoint, redis, Chromium).

`unavailable(reason)` skips with the reason printed, except under QF_REQUIRE_ALL=1 (set by
.ci/run), where a missing service is a failure: CI must run every test.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path

import pytest

REQUIRE_ALL = os.environ.get("QF_REQUIRE_ALL") == "1"
REPO_ROOT = Path(__file__).resolve().parents[2]


def unavailable(reason: str) -> None:
    """Skip (printing why) — or fail under QF_REQUIRE_ALL=1."""
    if REQUIRE_ALL:
        pytest.fail(f"QF_REQUIRE_ALL=1 but a required service is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll `check` until it returns True; raise TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last error
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s (last error: {last_error!r})")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class BackgroundProcess:
    """A server process started for a test, stopped (and its log shown on failure) afterwards."""

    def __init__(
        self,
        args: Sequence[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.args = list(args)
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd or REPO_ROOT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_ready(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        def ready() -> bool:
            if not self.alive():
                raise RuntimeError(f"{what} exited early:\n{self.log_tail()}")
            return check()

        try:
            wait_until(ready, timeout, what)
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise RuntimeError(f"{exc}\n--- log ---\n{self.log_tail()}") from exc

    def stop(self, timeout: float = 10) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._log.close()
