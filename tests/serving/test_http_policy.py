"""What every response says about itself, over a real uvicorn server: 415 for non-JSON bodies,
security headers everywhere (docs included), the CORS policy (off by default; a preflight is
never a failed key), Retry-After on 429 only, integer X-RateLimit-Reset, and a /metrics
that 10,000 junk requests leave byte-identical (they are tallied in the log instead).

The app serves a stand-in model carrying the shipped German contract (``stub_app``): none of this
depends on the scores.
"""

from __future__ import annotations

import random
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from pydantic import ValidationError

from quantumfinance_serving import Settings
from tests.serving.conftest import api_without_model, make_settings, stub_app, uvicorn_in_thread
from tests.serving.helpers import shipped_contract
from tests.support.services import wait_until

GERMAN = shipped_contract("base")
ORIGIN = "https://desk.example.com"


@pytest.fixture
def serve(keys, tmp_path):
    """A real server of a stand-in model with ``overrides``; yields its URL."""

    def start(**overrides):
        overrides.setdefault("model_uri", str(tmp_path / "no-model-here"))
        settings = make_settings(keys, tmp_path / "audit.jsonl", **overrides)
        return uvicorn_in_thread(settings, stub_app(settings, GERMAN), wait_ready=False)

    return start


def test_scoring_refuses_bodies_that_are_not_json_with_415(serve, keys):
    body = b'{"anything": 1}'
    with serve() as url, httpx.Client(base_url=url, timeout=10) as client:
        for path in ("/v1/score", "/v1/score/batch"):
            for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
                headers = {"x-api-key": keys.valid}
                if content_type:
                    headers["content-type"] = content_type
                refused = client.post(path, content=body, headers=headers)
                assert refused.status_code == 415, (path, content_type, refused.text)
                assert "application/json" in refused.json()["detail"]
            # JSON with parameters, or a +json type, reaches validation
            for content_type in ("application/json; charset=utf-8", "application/merge+json"):
                headers = {"x-api-key": keys.valid, "content-type": content_type}
                assert client.post(path, content=body, headers=headers).status_code == 422
            # the key comes first: no key, no 415
            anonymous = client.post(path, content=body, headers={"content-type": "text/plain"})
            assert anonymous.status_code == 401
        document = client.get("/openapi.json").json()
        assert "415" in document["paths"]["/v1/score"]["post"]["responses"]


def _assert_secured(response: httpx.Response) -> None:
    headers = response.headers
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    assert headers["x-content-type-options"] == "nosniff", where
    assert headers["x-frame-options"] == "DENY", where
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp, where
    assert "unsafe-eval" not in csp and "script-src 'self' 'unsafe-inline'" not in csp, where


def test_every_response_carries_security_headers_and_decisions_are_not_stored(serve, keys):
    valid = {"x-api-key": keys.valid}
    with serve() as url, httpx.Client(base_url=url, timeout=10) as client:
        decision = client.post("/v1/score", json=GERMAN.example_applicant(), headers=valid)
        assert decision.status_code == 200, decision.text
        assert decision.headers["cache-control"] == "no-store"
        batch = {"applicants": [GERMAN.example_applicant()]}
        assert (
            client.post("/v1/score/batch", json=batch, headers=valid).headers["cache-control"]
            == "no-store"
        )
        responses = [
            decision,
            client.get("/health"),
            client.get("/ready"),
            client.get("/v1/model", headers=valid),
            client.get("/v1/model"),  # 401 from the key check
            client.post("/v1/score", content=b"x", headers=valid),  # 415
            client.get("/nowhere"),  # 404
            client.get("/metrics", headers=valid),
            client.get("/openapi.json"),
            client.get("/docs"),
            client.get("/redoc"),
            client.get("/docs", headers={"x-big": "a" * 20_000}),  # 431 from the header cap
        ]
        for response in responses:
            _assert_secured(response)
        docs = client.get("/docs")
        # the page's one inline script is allowed by its hash, nothing else inline
        assert re.search(
            r"script-src 'self' 'sha256-[A-Za-z0-9+/=]+';", docs.headers["content-security-policy"]
        ), docs.headers["content-security-policy"]
        asset = re.search(r'src="(/[^"]+\.js)"', docs.text).group(1)
        _assert_secured(client.get(asset))


def _preflight(client: httpx.Client, origin: str) -> httpx.Response:
    return client.options(
        "/v1/score",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-api-key, content-type",
        },
    )


def test_cors_is_off_by_default_and_preflights_are_not_failed_key_attempts(serve, keys):
    with serve(auth_failure_limit="2/minute") as url, httpx.Client(base_url=url) as client:
        for _ in range(5):
            preflight = _preflight(client, ORIGIN)
            assert preflight.status_code == 400
            assert "access-control-allow-origin" not in preflight.headers
        # the throttle (2 failures a minute) has counted none of them
        assert client.get("/v1/model", headers={"x-api-key": "guess"}).status_code == 401
        answered = client.get("/v1/model", headers={"x-api-key": keys.valid, "origin": ORIGIN})
        assert answered.status_code == 200
        assert "access-control-allow-origin" not in answered.headers


def test_cors_allows_exactly_the_configured_origins(serve, keys):
    with serve(cors_origins=ORIGIN) as url, httpx.Client(base_url=url, timeout=10) as client:
        allowed = _preflight(client, ORIGIN)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ORIGIN
        assert "x-api-key" in allowed.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in allowed.headers
        assert _preflight(client, "https://evil.example.com").status_code == 400
        scored = client.post(
            "/v1/score",
            json=GERMAN.example_applicant(),
            headers={"x-api-key": keys.valid, "origin": ORIGIN},
        )
        assert scored.status_code == 200
        assert scored.headers["access-control-allow-origin"] == ORIGIN
        exposed = scored.headers["access-control-expose-headers"].lower()
        assert "x-ratelimit-remaining" in exposed and "retry-after" in exposed
        other = client.get(
            "/v1/model", headers={"x-api-key": keys.valid, "origin": "https://evil.example.com"}
        )
        assert "access-control-allow-origin" not in other.headers
        # preflights are counted under the route they ask about
        metrics = client.get("/metrics", headers={"x-api-key": keys.valid}).text
        assert (
            'qf_http_requests_total{method="OPTIONS",route="/v1/score",status="200"} 1.0' in metrics
        )
        assert 'method="OPTIONS",route="/v1/score",status="400"} 1.0' in metrics


def test_cors_origins_must_be_origins():
    for bad in ("*", "desk.example.com", "https://desk.example.com/app", "ftp://x"):
        with pytest.raises(ValidationError, match="cors_origins"):
            Settings(api_keys="", cors_origins=bad)
    assert Settings(api_keys="", cors_origins=f" {ORIGIN}, http://127.0.0.1:8501 ").allowed_origins


def test_retry_after_only_on_429_and_rate_limit_reset_is_an_integer(serve, keys):
    valid = {"x-api-key": keys.valid}
    with serve(rate_limit="2/minute") as url, httpx.Client(base_url=url, timeout=10) as client:
        answers = [client.get("/v1/model", headers=valid) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        for answer in answers:
            assert answer.headers["x-ratelimit-limit"] == "2"
            assert re.fullmatch(r"\d+", answer.headers["x-ratelimit-reset"]), answer.headers
            assert re.fullmatch(r"\d+", answer.headers["x-ratelimit-remaining"])
        assert [a.headers.get("retry-after") is not None for a in answers] == [False, False, True]
        assert 1 <= int(answers[2].headers["retry-after"]) <= 61
        for path in ("/health", "/ready", "/docs"):
            assert "retry-after" not in client.get(path).headers


JUNK_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW", "X-JUNK"]


def _junk(rng: random.Random) -> tuple[str, str]:
    method = rng.choice(JUNK_METHODS + ["".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ", k=8))])
    segment = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789-_.~", k=rng.randint(1, 30)))
    return method, rng.choice(["/", "/v1/", "/v2/", "/static-x/"]) + segment


def test_ten_thousand_junk_requests_leave_metrics_the_same_size(keys, tmp_path):
    api = api_without_model(tmp_path, keys, QF_AUTH_FAILURE_LIMIT="1000000/minute")
    valid = {"x-api-key": keys.valid}
    try:

        def send(requests: list[tuple[str, str]]) -> set[int]:
            with httpx.Client(base_url=api.url, timeout=30) as client:
                return {client.request(method, path).status_code for method, path in requests}

        def scrape() -> str:
            return httpx.get(f"{api.url}/metrics", headers=valid, timeout=30).text

        assert send([("GET", "/health")]) == {200}  # a counted request: /metrics is not empty
        # the model directory is missing: its one failed load is counted at startup, not by junk
        wait_until(lambda: "qf_model_reload_failures_total 1.0" in scrape(), 60, "failed load")
        before = scrape()
        rng = random.Random(21)
        # Made-up methods and paths, and real routes with methods they do not take (405).
        wrong_methods = [(m, p) for m in ("POST", "PUT", "BREW") for p in ("/v1/model", "/health")]
        junk = [_junk(rng) for _ in range(10_000 - 6 * 20)] + wrong_methods * 20
        with ThreadPoolExecutor(4) as pool:
            statuses = set().union(*pool.map(send, [junk[i::4] for i in range(4)]))
        after = scrape()
    finally:
        api.stop()  # SIGTERM: the app's shutdown logs what is left of its tally
    assert statuses <= {401, 404, 405}, statuses
    assert 'route="/health"' in before
    # Byte for byte the same: junk is in no label and no count, nor are the scrapes themselves.
    assert len(after) == len(before) and after == before
    # ... and still seen: the tally's log lines account for every one of them
    log = api.log_path.read_text()
    line = r"requests that matched no route in the last \d+ s: (\d+) \(by status ([^)]*)\)"
    tallied = re.findall(line, log)
    assert sum(int(n) for n, _ in tallied) == len(junk), tallied
    assert all(set(re.findall(r"(\d+): ", by)) <= {"401", "404", "405"} for _, by in tallied)
