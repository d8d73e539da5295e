"""The HTTP layer follows the served model's contract, whichever it is and whenever it changes.

These run the real app (routes, validation, micro-batcher, audit, /openapi.json) around stand-in
models (tests/serving/helpers.py: a real contract, schema and frame layout, a stub predict), so
swaps and in-flight requests can be staged exactly. The same behaviour on trained models is in
test_portfolios.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.serving.conftest import make_settings, running_app
from tests.serving.helpers import shipped_contract, stub_model
from tests.support.services import wait_until

GERMAN = shipped_contract("base")
CARDS = shipped_contract("cards")


@contextmanager
def stub_app(keys, tmp_path) -> Iterator:
    """The app with its lifespan running and no real model (the configured path does not
    exist); tests put stand-in models into its store."""
    settings = make_settings(keys, tmp_path / "audit.jsonl", model_uri=str(tmp_path / "no-model"))
    with running_app(settings, wait_ready=False) as client:
        store = client.app.state.store
        wait_until(lambda: store.last_error is not None, 60, "the first load attempt to fail")
        yield client


@pytest.fixture
def app(keys, tmp_path):
    with stub_app(keys, tmp_path) as client:
        yield client


def _serve(client, model) -> None:
    client.app.state.store.current = model


def _applicant_schema(client) -> dict:
    return client.get("/openapi.json").json()["components"]["schemas"]["Applicant"]


def _score(client, keys, body) -> object:
    return client.post("/v1/score", json=body, headers={"x-api-key": keys.valid})


def test_openapi_says_no_model_then_shows_the_served_contract(app):
    before = _applicant_schema(app)
    assert "properties" not in before and "No model is loaded yet" in before["description"]
    assert "No model is loaded yet" in app.get("/openapi.json").json()["info"]["description"]

    _serve(app, stub_model(CARDS, "7"))
    document = app.get("/openapi.json").json()
    applicant = document["components"]["schemas"]["Applicant"]
    assert list(applicant["properties"]) == list(CARDS.feature_names)
    assert CARDS.portfolio.name in document["info"]["description"]
    single = document["paths"]["/v1/score"]["post"]["requestBody"]["content"]["application/json"]
    assert single["schema"] == {"$ref": "#/components/schemas/Applicant"}
    assert single["example"] == CARDS.example_applicant()
    batch = document["components"]["schemas"]["BatchRequest"]["properties"]["applicants"]
    assert (batch["minItems"], batch["maxItems"]) == (1, app.app.state.settings.max_batch)
    utilisation = applicant["properties"]["utilisation"]
    assert (utilisation["minimum"], utilisation["maximum"]) == (0, 3)
    assert CARDS.by_name["utilisation"].description in utilisation["description"]
    assert "income" not in applicant["required"] and "balance" in applicant["required"]
    assert "gender" not in applicant["properties"]  # protected, never a model input

    _serve(app, stub_model(GERMAN, "8"))
    german = _applicant_schema(app)
    assert list(german["properties"]) == list(GERMAN.feature_names)
    assert app.get("/docs").status_code == 200


def test_model_info_carries_the_contract(app, keys):
    _serve(app, stub_model(CARDS, "7"))
    info = app.get("/v1/model", headers={"x-api-key": keys.valid}).json()
    assert info["contract"] == CARDS.as_dict()
    assert info["contract_digest"] == CARDS.digest
    assert info["version"] == "7"


def test_cards_validation_names_the_field(app, keys):
    _serve(app, stub_model(CARDS, "7"))
    example = CARDS.example_applicant()

    too_high = _score(app, keys, {**example, "utilisation": 3.5})
    assert too_high.status_code == 422
    assert too_high.json()["detail"] == [
        {"loc": ["body", "utilisation"], "msg": "3.5 is above the maximum 3",
         "type": "less_than_equal", "ctx": {"le": 3.0}},
    ]  # fmt: skip

    no_balance = {k: v for k, v in example.items() if k != "balance"}
    missing = _score(app, keys, no_balance)
    assert missing.status_code == 422
    assert [(e["loc"], e["type"]) for e in missing.json()["detail"]] == [
        (["body", "balance"], "missing")
    ]

    for nullable in ({**example, "income": None, "region": None},
                     {k: v for k, v in example.items() if k not in ("income", "region")}):  # fmt: skip
        accepted = _score(app, keys, nullable)
        assert accepted.status_code == 200, accepted.text
    audited = app.app.state.settings.audit_path.read_text().splitlines()
    assert len(audited) >= 2  # both accepted (missing inputs are the model's missing slots)

    not_finite = app.post(
        "/v1/score",
        content=json.dumps({**example, "balance": 0}).replace('"balance": 0', '"balance": NaN'),
        headers={"x-api-key": keys.valid, "content-type": "application/json"},
    )
    assert not_finite.status_code == 422
    assert not_finite.json()["detail"][0]["loc"] == ["body", "balance"]

    batch = app.post(
        "/v1/score/batch",
        json={"applicants": [example, {**example, "late_payments_12m": 1.5}]},
        headers={"x-api-key": keys.valid},
    )
    assert batch.status_code == 422
    assert [e["loc"] for e in batch.json()["detail"]] == [
        ["body", "applicants", 1, "late_payments_12m"]
    ]


def test_scoring_before_a_model_is_503_even_for_a_bad_body(app, keys):
    assert _score(app, keys, {"anything": 1}).status_code == 503
    assert app.post("/v1/score", json={}).status_code == 401  # the key is checked first


def test_garbage_bodies_are_422_never_500(app, keys):
    _serve(app, stub_model(CARDS, "7"))
    headers = {"x-api-key": keys.valid, "content-type": "application/json"}
    for body in [b"", b"{not json", b"\xff\xfe\x00", b"[]", b"null", b'"text"', b"1e999",
                 b'{"applicants": 3}', b'{"balance": {"$gt": 1}}']:  # fmt: skip
        for path in ("/v1/score", "/v1/score/batch"):
            response = app.post(path, content=body, headers=headers)
            assert response.status_code == 422, (path, body, response.text)
            assert response.json()["detail"][0]["loc"][0] == "body"


def test_swap_to_another_contract_keeps_in_flight_requests_on_their_model(app, keys):
    """A request validated against the old model is scored by it, even if the new model (another
    contract) is swapped in meanwhile; from the swap on, bodies are checked against the new one."""
    gate = threading.Event()
    old = stub_model(GERMAN, "1", points=500, gate=gate)
    new = stub_model(CARDS, "2", points=700)
    _serve(app, old)
    answers: list = []
    in_flight = threading.Thread(
        target=lambda: answers.append(_score(app, keys, GERMAN.example_applicant()))
    )
    in_flight.start()
    try:
        assert old.scoring.entered.wait(30), "the German request never reached its model"
        _serve(app, new)  # the swap, while the German request is being scored
        # new requests already follow the new contract ...
        refused = _score(app, keys, GERMAN.example_applicant())
        assert refused.status_code == 422
        types = {e["type"] for e in refused.json()["detail"]} - {"too_many"}  # + the total
        assert types == {"extra_forbidden", "missing"}
        assert _applicant_schema(app)["properties"].keys() == set(CARDS.feature_names)
    finally:
        gate.set()
        in_flight.join(30)
    # ... and the one in flight was answered by the model that validated it
    assert answers and answers[0].status_code == 200, answers
    assert answers[0].json()["model"]["version"] == "1" and answers[0].json()["score"] == 500
    assert all(names == GERMAN.feature_names for names in old.scoring.calls)
    cards = _score(app, keys, CARDS.example_applicant())
    assert cards.status_code == 200 and cards.json()["model"]["version"] == "2"
    assert all(names == CARDS.feature_names for names in new.scoring.calls)
    audited = [
        json.loads(line) for line in app.app.state.settings.audit_path.read_text().splitlines()
    ]
    assert [(r["model_version"], r["input_sha256"]) for r in audited] == [
        ("1", old.input_hash(GERMAN.example_applicant())),
        ("2", new.input_hash(CARDS.example_applicant())),
    ]
