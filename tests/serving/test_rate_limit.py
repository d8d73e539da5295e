"""Per-key rate limits: 429 with Retry-After; with redis the limit is global across processes."""

from __future__ import annotations

import shutil
import subprocess
from itertools import cycle

import httpx
import pytest

from tests.serving.conftest import ApiProcess, make_settings, running_app
from tests.support.services import BackgroundProcess, free_port, unavailable


def test_over_the_limit_is_429_with_retry_after(keys, tracking, contract, tmp_path):
    settings = make_settings(keys, tmp_path / "audit.jsonl", rate_limit="3/minute")
    with running_app(settings) as client:
        valid = {"x-api-key": keys.valid}
        first = client.post("/v1/score", json=contract.example_applicant(), headers=valid)
        assert first.status_code == 200
        assert first.headers["X-RateLimit-Limit"] == "3"
        assert first.headers["X-RateLimit-Remaining"] == "2"
        # the batch route shares the key's budget
        batch = {"applicants": [contract.example_applicant()]}
        assert client.post("/v1/score/batch", json=batch, headers=valid).status_code == 200
        assert (
            client.post("/v1/score", json=contract.example_applicant(), headers=valid).status_code
            == 200
        )
        over = client.post("/v1/score", json=contract.example_applicant(), headers=valid)
        assert over.status_code == 429
        assert 1 <= int(over.headers["Retry-After"]) <= 61
        assert over.headers["X-RateLimit-Remaining"] == "0"
        assert "rate limit exceeded" in over.json()["detail"]
        # limits are per key id: the admin key still has its own budget
        admin = client.post(
            "/v1/score", json=contract.example_applicant(), headers={"x-api-key": keys.admin}
        )
        assert admin.status_code == 200


@pytest.fixture
def redis_url(tmp_path):
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server not installed (apt-get install -y redis-server)")
    port = free_port()
    server = BackgroundProcess(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        tmp_path / "redis.log",
    )
    server.wait_ready(
        lambda: subprocess.run(
            ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False
        ).stdout.strip()
        == "PONG",
        20,
        "redis-server",
    )
    yield f"redis://127.0.0.1:{port}"
    server.stop()


@pytest.mark.redis
def test_redis_storage_makes_the_limit_global_across_processes(
    keys, local_model_dir, contract, redis_url, tmp_path
):
    env = {
        "QF_MODEL_URI": str(local_model_dir),
        "QF_API_KEYS": keys.config,
        "QF_RATE_LIMIT": "10/minute",
        "QF_RATE_LIMIT_STORAGE": redis_url,
        "QF_RELOAD_INTERVAL_SECONDS": "0",
        "QF_AUDIT_PATH": str(tmp_path / "audit.jsonl"),
    }
    workers = [ApiProcess(tmp_path, env), ApiProcess(tmp_path, env)]
    try:
        # The limit is checked before scoring, so the processes need not finish loading the
        # model: a request is counted whether it is then scored (200) or not yet (503).
        for worker in workers:
            worker.wait_alive()
        codes: dict[str, list[int]] = {w.url: [] for w in workers}
        for _, worker in zip(range(24), cycle(workers)):
            response = httpx.post(
                f"{worker.url}/v1/score",
                json=contract.example_applicant(),
                headers={"x-api-key": keys.valid},
                timeout=10,
            )
            codes[worker.url].append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["Retry-After"]) >= 1
        everything = [c for per_worker in codes.values() for c in per_worker]
        assert set(everything) <= {200, 503, 429}, codes
        assert everything.count(429) == 14, codes  # one budget of 10, not 10 per process
        assert all(len(c) - c.count(429) == 5 for c in codes.values()), codes
    finally:
        for worker in workers:
            worker.stop()
