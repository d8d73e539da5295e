"""Hostile traffic: work before authentication, oversized headers, spoofed X-Forwarded-For, the
moving-window limit across every /v1/* route, and /ready telling the truth about the audit sink.

Most cases need no trained model: the app serves a stand-in model carrying a shipped contract
(``stub_app``), since none of this depends on the scores.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.serving.conftest import make_settings, stub_app, uvicorn_in_thread
from tests.serving.helpers import shipped_contract

MIB = 1024 * 1024


@pytest.fixture
def settings_of(keys, tmp_path):
    """Settings of an app whose background load fails fast (the stand-in model serves)."""

    def build(**overrides):
        overrides.setdefault("model_uri", str(tmp_path / "no-model-here"))
        return make_settings(keys, tmp_path / "audit.jsonl", **overrides)

    return build


class BodyReadCounter:
    """ASGI wrapper counting what the app pulled of each request body (calls and bytes)."""

    def __init__(self, app) -> None:
        self.app = app
        self.calls = 0
        self.bytes = 0

    async def __call__(self, scope, receive, send) -> None:
        async def counting_receive():
            message = await receive()
            if message["type"] == "http.request":
                self.calls += 1
                self.bytes += len(message.get("body", b""))
            return message

        await self.app(scope, counting_receive, send)


def test_unauthenticated_8_mb_body_is_refused_without_reading_it(settings_of, keys):
    app = stub_app(settings_of(), shipped_contract("base"))
    counter = BodyReadCounter(app)
    client = TestClient(counter)
    body = b'{"applicants": [' + b" " * (8 * MIB - 100) + b"]}"  # under QF_MAX_BODY_BYTES
    for headers in ({}, {"x-api-key": "qf_wrong"}):
        for path in ("/v1/score", "/v1/score/batch"):
            response = client.post(
                path, content=body, headers={"content-type": "application/json", **headers}
            )
            assert response.status_code == 401, response.text
            assert response.headers["connection"] == "close"
    assert (counter.calls, counter.bytes) == (0, 0), "the body was read before the key check"
    # control: with a valid key the same counter does see the body being read (and parsed: 422)
    response = client.post(
        "/v1/score/batch",
        content=b'{"applicants": []}',
        headers={"content-type": "application/json", "x-api-key": keys.valid},
    )
    assert response.status_code == 422 and counter.bytes == len(b'{"applicants": []}')


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _send_raw(port: int, head: bytes) -> bytes:
    """Send a request head (possibly huge) and return what the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            for start in range(0, len(head), 64 * 1024):
                sock.sendall(head[start : start + 64 * 1024])
        except OSError:
            pass  # the server answered and closed while we were still sending: expected
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except OSError:
            pass
        return b"".join(chunks)


def test_oversized_headers_are_refused_and_memory_stays_flat(settings_of, keys):
    settings = settings_of(max_header_bytes=16 * 1024)
    app = stub_app(settings, shipped_contract("base"))
    with uvicorn_in_thread(settings, app, wait_ready=False) as url:
        port = int(url.rsplit(":", 1)[1])
        huge_value = (
            b"GET /v1/model HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (8 * MIB) + b"\r\n\r\n"
        )
        many = b"GET /v1/model HTTP/1.1\r\nHost: x\r\n" + b"".join(
            b"X-H%d: v\r\n" % i for i in range(5000)
        ) + b"\r\n"  # fmt: skip
        _send_raw(port, huge_value)  # warm-up: first-use allocations are not growth
        before = _rss_mib()
        for head in [huge_value] * 3 + [many] * 3:
            answer = _send_raw(port, head)
            assert answer.split(b"\r\n", 1)[0] in {
                b"HTTP/1.1 400 Bad Request",
                b"HTTP/1.1 431 Request Header Fields Too Large",
            }, answer[:200]
        assert _rss_mib() - before < 40, "headers were buffered"
        # the server still answers normal requests
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        ok = httpx.get(f"{url}/v1/model", headers={"x-api-key": keys.valid}, timeout=5)
        assert ok.status_code == 200, ok.text


def test_spoofed_forwarded_for_changes_nothing_without_a_trusted_proxy(settings_of, keys):
    settings = settings_of(auth_failure_limit="3/minute")
    app = stub_app(settings, shipped_contract("base"))
    with uvicorn_in_thread(settings, app, wait_ready=False) as url:
        codes = [
            httpx.get(
                f"{url}/v1/model",
                headers={"x-api-key": f"guess-{i}", "x-forwarded-for": f"203.0.113.{i}"},
                timeout=5,
            ).status_code
            for i in range(5)
        ]
        assert codes == [401, 401, 401, 429, 429], "rotating X-Forwarded-For evaded the throttle"
        # a valid key is served whatever X-Forwarded-For claims (it cannot be locked out)
        valid = httpx.get(
            f"{url}/v1/model",
            headers={"x-api-key": keys.valid, "x-forwarded-for": "203.0.113.1"},
            timeout=5,
        )
        assert valid.status_code == 200, valid.text


def test_forwarded_for_is_believed_from_a_trusted_proxy_only(settings_of, keys):
    settings = settings_of(auth_failure_limit="2/minute", trusted_proxies="127.0.0.1")
    app = stub_app(settings, shipped_contract("base"))
    with uvicorn_in_thread(settings, app, wait_ready=False) as url:

        def attempt(client_ip: str) -> int:
            headers = {"x-api-key": "guess", "x-forwarded-for": client_ip}
            return httpx.get(f"{url}/v1/model", headers=headers, timeout=5).status_code

        assert [attempt("198.51.100.7") for _ in range(3)] == [401, 401, 429]
        assert attempt("198.51.100.8") == 401  # another client behind the proxy: its own count


def _accepted_in_window(spans: list[tuple[float, float]], length: float) -> int:
    """The most requests accepted within one window of ``length`` seconds, counted
    conservatively: request j joins i's window only when its whole [sent, answered] span lies
    after i was answered and before i was sent + length (so clock jitter cannot inflate it)."""
    worst = 0
    for sent_i, done_i in spans:
        inside = 1 + sum(1 for sent, done in spans if sent >= done_i and done < sent_i + length)
        worst = max(worst, inside)
    return worst


def test_moving_window_accepts_no_more_than_the_limit_in_any_window(settings_of, keys):
    limit, length = 5, 1.0
    app = stub_app(settings_of(rate_limit=f"{limit}/second"), shipped_contract("base"))
    client = TestClient(app)
    valid = {"x-api-key": keys.valid}
    # one budget for every /v1/* route: metadata, plots and scoring alike
    calls = [
        lambda: client.get("/v1/model", headers=valid),
        lambda: client.get("/v1/model/plots/roc", headers=valid),
        lambda: client.post("/v1/score/batch", json={"applicants": []}, headers=valid),
    ]
    accepted: list[tuple[float, float]] = []
    statuses: set[int] = set()
    started = time.monotonic()
    i = 0
    while time.monotonic() - started < 3.5:
        sent = time.monotonic()
        response = calls[i % len(calls)]()
        done = time.monotonic()
        i += 1
        statuses.add(response.status_code)
        if response.status_code != 429:
            accepted.append((sent, done))
        else:
            assert int(response.headers["Retry-After"]) >= 1
        time.sleep(0.02)
    assert statuses >= {200, 404, 422, 429}, statuses  # every route was reached and limited
    assert _accepted_in_window(accepted, length) <= limit
    assert len(accepted) > 2 * limit  # the window moved on: later requests were accepted again


def test_over_the_limit_8_mb_body_is_refused_without_reading_it(settings_of, keys):
    app = stub_app(settings_of(rate_limit="1/minute"), shipped_contract("base"))
    counter = BodyReadCounter(app)
    client = TestClient(counter)
    valid = {"content-type": "application/json", "x-api-key": keys.valid}
    first = client.post("/v1/score/batch", content=b'{"applicants": []}', headers=valid)
    assert first.status_code == 422 and counter.bytes == len(b'{"applicants": []}')
    read_before = (counter.calls, counter.bytes)
    body = b'{"applicants": [' + b" " * (8 * MIB - 100) + b"]}"  # under QF_MAX_BODY_BYTES
    for path in ("/v1/score", "/v1/score/batch"):
        over = client.post(path, content=body, headers=valid)
        assert over.status_code == 429, over.text
        assert int(over.headers["Retry-After"]) >= 1
        assert over.headers["connection"] == "close"
    assert (counter.calls, counter.bytes) == read_before, "the body was read over the limit"


def test_one_budget_covers_exactly_the_v1_routes(settings_of, keys):
    app = stub_app(settings_of(rate_limit="1/minute"), shipped_contract("base"))
    client = TestClient(app)
    admin = {"x-api-key": keys.admin}  # an admin key may call every /v1/* route
    calls = {
        ("POST", "/v1/score"): lambda: client.post("/v1/score", json={}, headers=admin),
        ("POST", "/v1/score/batch"): lambda: client.post(
            "/v1/score/batch", json={"applicants": []}, headers=admin
        ),
        ("GET", "/v1/model"): lambda: client.get("/v1/model", headers=admin),
        ("GET", "/v1/model/plots/{name}"): lambda: client.get("/v1/model/plots/roc", headers=admin),
        ("POST", "/v1/admin/reload"): lambda: client.post("/v1/admin/reload", headers=admin),
        ("GET", "/v1/monitoring"): lambda: client.get("/v1/monitoring", headers=admin),
    }
    served = {
        (method, route.path)
        for route in app.routes
        if getattr(route, "path", "").startswith("/v1/")
        for method in getattr(route, "methods", ())
    }
    assert served == set(calls), "a /v1/* route this test does not cover"
    assert client.get("/v1/model", headers=admin).status_code == 200  # the key's one request
    for route, call in calls.items():
        response = call()
        assert response.status_code == 429, (route, response.status_code, response.text)
    # the same key, over its budget, still reaches everything outside /v1/*
    for path in ("/health", "/ready", "/metrics", "/docs", "/openapi.json"):
        for _ in range(3):
            response = client.get(path, headers=admin)
            assert response.status_code in {200, 503}, (path, response.status_code)
            assert "x-ratelimit-limit" not in response.headers, path


def _metric(text: str, name: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    raise AssertionError(f"no {name}")


def test_audit_sink_down_makes_ready_503_and_recovery_clears_it(settings_of, keys):
    settings = settings_of()
    app = stub_app(settings, shipped_contract("base"))
    valid = {"x-api-key": keys.valid}
    applicant = shipped_contract("base").example_applicant()
    with TestClient(app) as client:
        assert client.get("/ready").json()["status"] in {"ready", "degraded"}
        assert client.post("/v1/score", json=applicant, headers=valid).status_code == 200
        # the audit file becomes a directory: no record can be appended any more
        settings.audit_path.unlink()
        settings.audit_path.mkdir()
        down = client.get("/ready")
        assert down.status_code == 503 and down.json()["status"] == "unavailable"
        assert str(settings.audit_path) not in down.text  # no server path without a key
        assert str(settings.audit_path) in client.get("/ready", headers=valid).json()["detail"]
        refused = client.post("/v1/score", json=applicant, headers=valid)
        assert refused.status_code == 503 and str(settings.audit_path) not in refused.text
        metrics = client.get("/metrics", headers=valid).text
        assert _metric(metrics, "qf_audit_failures_total") == 1
        # back up: ready again, the error gone
        settings.audit_path.rmdir()
        up = client.get("/ready", headers=valid)
        assert up.status_code == 200
        assert str(settings.audit_path) not in (up.json()["detail"] or "")
        assert client.post("/v1/score", json=applicant, headers=valid).status_code == 200


def test_ready_reports_degraded_while_the_served_version_lags_its_alias(settings_of, keys):
    app = stub_app(settings_of(), shipped_contract("base"), version="3")
    store = app.state.store
    client = TestClient(app)
    store.last_error = None
    store.alias_version = "3"
    assert client.get("/ready").json() == {"status": "ready", "detail": None}
    store.alias_version = "4"  # what a poll records when the alias moved and the reload failed
    lagging = client.get("/ready")
    assert lagging.status_code == 200 and lagging.json()["status"] == "degraded"
    assert "version 4" in lagging.json()["detail"]
    metrics = client.get("/metrics", headers={"x-api-key": keys.valid}).text
    assert _metric(metrics, "qf_model_lagging_alias") == 1


def test_metrics_on_their_own_port_need_no_key_and_leave_the_api(settings_of, keys):
    from tests.support.services import free_port  # noqa: PLC0415

    port = free_port()
    app = stub_app(settings_of(metrics_port=port), shipped_contract("base"))
    with TestClient(app) as client:
        assert client.get("/metrics", headers={"x-api-key": keys.valid}).status_code == 404
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert scraped.status_code == 200
        assert _metric(scraped.text, "qf_model_ready") == 1
