"""Authentication: the key matrix, failed-attempt throttling, the key CLI, keys never logged."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from pydantic import ValidationError

from quantumfinance_serving.keys import hash_key
from quantumfinance_serving.settings import problems
from tests.serving.conftest import make_settings, running_app


@pytest.mark.parametrize(
    ("which", "expected"),
    [("none", 401), ("wrong", 401), ("revoked", 401), ("valid", 200), ("admin", 200)],
)
def test_key_matrix_on_score(api, keys, contract, which, expected):
    headers = {
        "none": {},
        "wrong": {"x-api-key": "qf_not-a-real-key"},
        "revoked": {"x-api-key": keys.revoked},
        "valid": {"x-api-key": keys.valid},
        "admin": {"x-api-key": keys.admin},
    }[which]
    response = api.post("/v1/score", json=contract.example_applicant(), headers=headers)
    assert response.status_code == expected, response.text
    if expected == 401:
        assert "API key" in response.json()["detail"]
    else:
        assert response.json()["decision"] in {"approve", "review", "decline"}


def test_every_v1_route_needs_a_key(api):
    for method, path in [
        ("GET", "/v1/model"),
        ("POST", "/v1/score/batch"),
        ("POST", "/v1/admin/reload"),
    ]:
        assert api.request(method, path, json={}).status_code == 401, path


def test_admin_reload_needs_an_admin_key(api, keys):
    assert api.post("/v1/admin/reload", headers={"x-api-key": keys.valid}).status_code == 403


def test_logs_name_the_key_id_never_the_key(api, keys, contract, caplog):
    applicant = contract.example_applicant()
    with caplog.at_level(logging.INFO):
        api.post("/v1/score", json=applicant, headers={"x-api-key": keys.revoked})
        api.post("/v1/score", json=applicant, headers={"x-api-key": keys.valid})
    assert "rejected invalid key" in caplog.text
    assert keys.revoked not in caplog.text and keys.valid not in caplog.text


def test_failed_auth_flood_is_throttled_per_address_but_never_locks_out_a_valid_key(
    keys, tracking, tmp_path
):
    settings = make_settings(keys, tmp_path / "audit.jsonl", auth_failure_limit="5/minute")
    with running_app(settings, wait_ready=False) as client:
        codes = [
            client.get("/v1/model", headers={"x-api-key": f"guess-{i}"}).status_code
            for i in range(8)
        ]
        assert codes[:5] == [401] * 5 and codes[5:] == [429] * 3
        blocked = client.get("/v1/model", headers={"x-api-key": "guess-again"})
        assert int(blocked.headers["Retry-After"]) >= 1
        assert "failed API-key attempts" in blocked.json()["detail"]
        # the same address with a valid key is served: failures cannot be turned against it
        valid = client.get("/v1/model", headers={"x-api-key": keys.valid})
        assert valid.status_code in {200, 503}, valid.text  # 503 while the model still loads


def test_key_cli_prints_the_key_once_with_its_config_line():
    out = subprocess.run(
        [sys.executable, "-m", "quantumfinance_serving.keys", "new", "branch-42"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    key = out.split("store it now): ")[1].split()[0]
    entry = out.split("comma separated): ")[1].split()[0]
    assert entry == f"branch-42:{hash_key(key)}"
    assert out.count(key) == 1  # the config line carries only the hash


def test_plain_keys_in_config_are_refused(keys, tmp_path):
    with pytest.raises(ValidationError) as refused:
        make_settings(keys, tmp_path / "a.jsonl", api_keys="ops:my-plain-password")
    lines = problems(refused.value)
    assert len(lines) == 1 and lines[0].startswith("QF_API_KEYS: the entry of key id 'ops'")
    assert "plain" not in lines[0]  # no part of the secret is repeated


def test_docs_can_be_switched_off(keys, tmp_path):
    from fastapi.testclient import TestClient  # noqa: PLC0415

    from quantumfinance_serving import create_app  # noqa: PLC0415

    app = create_app(make_settings(keys, tmp_path / "a.jsonl", docs_enabled=False))
    client = TestClient(app)  # no lifespan: only routing is under test
    assert client.get("/docs").status_code == 404
    assert client.get("/openapi.json").status_code == 404


def test_docs_offer_the_api_key_scheme(api):
    schemes = api.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {
        "type": "apiKey", "in": "header", "name": "x-api-key",
        "description": schemes["APIKeyHeader"]["description"],
    }  # fmt: skip
