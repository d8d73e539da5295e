"""Connection time and count are bounded (server.py), on a real `python -m quantumfinance_serving`
process and raw sockets: idle connections close after QF_KEEP_ALIVE_TIMEOUT_SECONDS (also before
a first request), a head still incomplete QF_HEAD_TIMEOUT_SECONDS after its first byte gets 408
and is closed however slowly it trickles in, so does a body still incomplete
QF_BODY_TIMEOUT_SECONDS after its head, and past QF_MAX_CONNECTIONS a request is 503.

No model is needed: the process serves /health while its (missing) model fails to load.
"""

from __future__ import annotations

import socket
import time
from contextlib import ExitStack

import httpx
import pytest

from tests.serving.conftest import ApiProcess, api_without_model

KEEP_ALIVE, HEAD, BODY, MAX_CONNECTIONS = 1.0, 2.0, 3.0, 20
SLACK = 1.5  # seconds a loaded 2-core machine may add to a timer


@pytest.fixture(scope="module")
def server(keys, tmp_path_factory):
    api = api_without_model(
        tmp_path_factory.mktemp("connections"),
        keys,
        QF_KEEP_ALIVE_TIMEOUT_SECONDS=str(KEEP_ALIVE),
        QF_HEAD_TIMEOUT_SECONDS=str(HEAD),
        QF_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
    )
    yield api
    api.stop()


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _closed_after(sock: socket.socket, started: float) -> tuple[float, bytes]:
    """Seconds from ``started`` until the server closed ``sock``, and what it sent before."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return time.monotonic() - started, received


def test_a_connection_that_never_sends_is_closed_after_the_keep_alive_timeout(server):
    with _connect(server.port) as sock:
        elapsed, received = _closed_after(sock, time.monotonic())
    assert received == b""
    assert KEEP_ALIVE - 0.2 <= elapsed <= KEEP_ALIVE + SLACK, elapsed


def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(server):
    with _connect(server.port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b'"detail":null}'):
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 OK"), answer
        elapsed, received = _closed_after(sock, time.monotonic())
    assert received == b""
    assert KEEP_ALIVE - 0.2 <= elapsed <= KEEP_ALIVE + SLACK, elapsed


def _trickle(port: int, first: bytes, more: bytes, deadline: float) -> tuple[bytes, float, int]:
    """Send ``first``, then one byte of ``more`` every 0.25 s (each would reset a per-read
    timer) until the server closes: (what it sent back, seconds since ``first``, bytes added)."""
    with _connect(port) as sock:
        sock.sendall(first)
        started = time.monotonic()
        sock.settimeout(0.25)
        received, sent = b"", 0
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                try:
                    sock.sendall(more[sent : sent + 1])
                    sent += 1
                except OSError:
                    break  # closed while we were sending
                assert time.monotonic() - started < deadline + SLACK + 5, "never cut off"
                continue
            if not chunk:
                break
            received += chunk
        return received, time.monotonic() - started, sent


def test_a_head_trickled_byte_by_byte_is_cut_off_after_the_head_timeout(server):
    head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
    received, elapsed, sent = _trickle(server.port, head[:20], head[20:], HEAD)  # half a line
    assert received.startswith(b"HTTP/1.1 408 Request Timeout"), received
    assert b"QF_HEAD_TIMEOUT_SECONDS" in received
    assert HEAD - 0.2 <= elapsed <= HEAD + SLACK, elapsed
    assert sent > 0, "the client kept sending while the deadline ran"


def test_a_body_trickled_after_a_complete_head_is_cut_off_after_the_body_timeout(
    local_model_dir, keys, tmp_path
):
    # A model is loaded, so the scoring route waits for the body (without one it answers 503
    # first; the timer then still closes the connection, without a 408).
    server = ApiProcess(
        tmp_path,
        {
            "QF_MODEL_URI": str(local_model_dir),
            "QF_API_KEYS": keys.config,
            "QF_AUDIT_PATH": str(tmp_path / "audit.jsonl"),
            "QF_RELOAD_INTERVAL_SECONDS": "0",
            "QF_BODY_TIMEOUT_SECONDS": str(BODY),
        },
    )
    try:
        server.wait_ready()
        _trickle_a_body(server, keys)
    finally:
        server.stop()
    log = next(tmp_path.glob("api-*.log")).read_text()
    assert "request body not received" in log and "Traceback" not in log, log[-3000:]


def _trickle_a_body(server, keys) -> None:
    head = (
        b"POST /v1/score HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b"x-api-key: " + keys.valid.encode() + b"\r\ncontent-length: 100000\r\n\r\n"
    )
    received, elapsed, sent = _trickle(server.port, head + b'{"a": "', b"x" * 1000, BODY)
    assert received.startswith(b"HTTP/1.1 408 Request Timeout"), received
    assert b"QF_BODY_TIMEOUT_SECONDS" in received
    assert BODY - 0.2 <= elapsed <= BODY + SLACK, elapsed
    assert sent > 4, "the client kept sending while the deadline ran"
    assert httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=5).status_code == 200


def test_past_the_connection_cap_a_request_is_503_and_served_again_once_they_close(server):
    url = f"http://127.0.0.1:{server.port}/health"
    with ExitStack() as held:
        for _ in range(MAX_CONNECTIONS):
            sock = held.enter_context(_connect(server.port))
            sock.sendall(b"GET /health HTTP/1.1\r\n")  # an incomplete head holds it open
        time.sleep(0.3)
        refused = httpx.get(url, timeout=5)
        assert refused.status_code == 503, refused.text
    deadline = time.monotonic() + HEAD + SLACK + 5
    while httpx.get(url, timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "connections were not released"
        time.sleep(0.2)


def test_timeouts_and_cap_are_settings_with_safe_defaults():
    from quantumfinance_serving import Settings  # noqa: PLC0415
    from quantumfinance_serving.server import server_config  # noqa: PLC0415

    config = server_config(Settings(api_keys=""))
    assert (
        config.timeout_keep_alive,
        config.head_timeout,
        config.body_timeout,
        config.limit_concurrency,
    ) == (5.0, 10.0, 30.0, 1000)


def test_worker_processes_get_the_same_timeouts(keys, tmp_path):
    """QF_WORKERS > 1: the config (protocol, head timeout) is handed to each worker process."""
    api = api_without_model(tmp_path, keys, QF_WORKERS="2", QF_HEAD_TIMEOUT_SECONDS="1")
    try:
        for _ in range(4):  # connections land on either worker
            with _connect(api.port) as sock:
                started = time.monotonic()
                sock.sendall(b"GET /health HTTP/1.1\r\n")
                elapsed, received = _closed_after(sock, started)
            assert received.startswith(b"HTTP/1.1 408 "), received
            assert 0.8 <= elapsed <= 1 + SLACK, elapsed
    finally:
        api.stop()
