"""Audit log: N decisions -> N records with their request ids; a failed write is an error."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from quantumfinance_serving.audit import AUDIT_FIELDS, JsonlAuditLog
from tests.serving.conftest import make_settings, running_app
from tests.serving.helpers import varied_applicants
from tests.support.services import free_port, unavailable


def _score_many(client, key: str, contract, n: int) -> list[str]:
    def one(applicant: dict) -> str:
        response = client.post("/v1/score", json=applicant, headers={"x-api-key": key})
        assert response.status_code == 200, response.text
        assert response.headers["X-Request-ID"] == response.json()["request_id"]
        return response.json()["request_id"]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, varied_applicants(contract, n)))


def test_every_decision_is_in_the_jsonl_audit(api, keys, contract):
    path = api.audit_path
    before = path.read_text().count("\n") if path.exists() else 0
    request_ids = _score_many(api, keys.valid, contract, 40)
    batch = api.post(
        "/v1/score/batch",
        json={"applicants": [contract.example_applicant()] * 3},
        headers={"x-api-key": keys.valid},
    ).json()
    records = [json.loads(line) for line in path.read_text().splitlines()[before:]]
    assert len(records) == 43
    assert [r["request_id"] for r in records if r["request_id"] != batch["request_id"]] and (
        sorted(r["request_id"] for r in records[:40]) == sorted(request_ids)
    )
    batch_rows = [r for r in records if r["request_id"] == batch["request_id"]]
    assert [r["row"] for r in batch_rows] == [0, 1, 2]
    record = batch_rows[0]
    assert set(record) == set(AUDIT_FIELDS)
    assert record["key_id"] == "loan-desk"
    # SHA-256 of the inputs' str() in contract order, joined by \x1f (docs/api.md)
    joined = "\x1f".join(str(v) for v in contract.example_applicant().values())
    assert record["input_sha256"] == hashlib.sha256(joined.encode()).hexdigest()
    assert record["model_version"] == batch["model"]["version"]
    assert (record["pd"], record["score"], record["decision"]) == (
        batch["results"][0]["pd"], batch["results"][0]["score"], batch["results"][0]["decision"],
    )  # fmt: skip


def test_unwritable_audit_log_is_an_error_not_a_silent_loss(api, keys, contract, tmp_path):
    batcher = api.app.state.batcher
    working = batcher.audit
    batcher.audit = JsonlAuditLog(tmp_path / "a-directory")
    (tmp_path / "a-directory").mkdir(exist_ok=True)  # appending to a directory fails
    try:
        response = api.post(
            "/v1/score", json=contract.example_applicant(), headers={"x-api-key": keys.valid}
        )
    finally:
        batcher.audit = working
    assert response.status_code == 503
    assert "audit log is unavailable" in response.json()["detail"]


@pytest.fixture
def postgres(world_readable_tmp):
    try:
        from scripts.stack import StackError, start_postgres  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - the stack script is part of the repo
        unavailable(f"scripts.stack not importable: {exc}")
    try:
        pg = start_postgres(world_readable_tmp / "pg", free_port(), "qf_audit", "audit-test-pw")
    except StackError as exc:
        unavailable(f"PostgreSQL could not start: {exc}")
    yield pg
    pg.stop()


@pytest.mark.stack
def test_decisions_go_to_postgres_and_an_outage_is_a_503(
    postgres, keys, tracking, contract, tmp_path
):
    import psycopg  # noqa: PLC0415

    dsn = postgres.dsn("postgres")
    settings = make_settings(keys, tmp_path / "unused.jsonl", audit_dsn=dsn)
    with running_app(settings) as client:
        request_ids = _score_many(client, keys.valid, contract, 12)
        with psycopg.connect(dsn) as conn:
            rows = conn.execute(
                "SELECT request_id, key_id, model_version, decision FROM decision_audit"
            ).fetchall()
        assert sorted(r[0] for r in rows) == sorted(request_ids)
        assert {r[1] for r in rows} == {"loan-desk"}
        assert not (tmp_path / "unused.jsonl").exists()

        postgres.stop()
        response = client.post(
            "/v1/score", json=contract.example_applicant(), headers={"x-api-key": keys.valid}
        )
        assert response.status_code == 503
        assert "audit log is unavailable" in response.json()["detail"]
        ready = client.get("/ready")  # no score can succeed now: not ready
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        keyed = client.get("/ready", headers={"x-api-key": keys.valid}).json()["detail"]
        assert "decision_audit" in keyed  # the reason, for key holders
