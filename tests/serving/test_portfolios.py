"""The API on the cards model, and a reload from German credit to cards and back.

The request schema, /openapi.json and GET /v1/model follow the served model's contract; a reload
to a model with another contract swaps all of them with the model (docs/api.md, "Model loading
and reload").
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import mlflow
import pandas as pd

from quantumfinance.contract import contract_of_model
from tests.serving.conftest import make_settings, running_app
from tests.support.services import wait_until


def test_openapi_and_model_info_show_the_cards_contract(cards_api, cards_project, keys):
    contract = cards_project.contract
    document = cards_api.get("/openapi.json").json()
    applicant = document["components"]["schemas"]["Applicant"]
    assert list(applicant["properties"]) == list(contract.feature_names)
    assert applicant["required"] == [c.name for c in contract.features if not c.nullable]
    assert applicant["examples"] == [contract.example_applicant()]
    for c in contract.features:
        prop = applicant["properties"][c.name]
        assert prop["title"] == c.title and c.description in prop["description"], c.name
    excluded = [c.name for c in contract.characteristics if not c.use_in_model]
    assert excluded and not set(excluded) & set(applicant["properties"])
    assert contract.portfolio.name in document["info"]["description"]

    info = cards_api.get("/v1/model", headers={"x-api-key": keys.valid}).json()
    assert info["contract"] == contract.as_dict()
    assert info["contract_digest"] == contract.digest


def test_cards_validation_on_the_trained_model(cards_api, cards_project, keys):
    contract = cards_project.contract
    headers = {"x-api-key": keys.valid}
    example = contract.example_applicant()
    floats = [c for c in contract.features if c.type == "float" and not c.nullable]
    assert floats, "the cards contract has required float inputs"

    for c in floats:
        too_high = cards_api.post(
            "/v1/score", json={**example, c.name: c.maximum + 0.5}, headers=headers
        )
        assert too_high.status_code == 422
        assert [(e["loc"], e["type"]) for e in too_high.json()["detail"]] == [
            (["body", c.name], "less_than_equal")
        ]
        below = cards_api.post(
            "/v1/score", json={**example, c.name: c.minimum - 0.01}, headers=headers
        )
        assert below.json()["detail"][0]["loc"] == ["body", c.name]

    required = floats[0].name
    missing = cards_api.post(
        "/v1/score", json={k: v for k, v in example.items() if k != required}, headers=headers
    )
    assert missing.status_code == 422
    assert [(e["loc"], e["type"]) for e in missing.json()["detail"]] == [
        (["body", required], "missing")
    ]

    nullable = [c.name for c in contract.features if c.nullable]
    assert nullable, "the cards contract has nullable inputs"
    with_nulls = {**example, **dict.fromkeys(nullable)}
    without = {k: v for k, v in example.items() if k not in nullable}
    answers = [
        cards_api.post("/v1/score", json=body, headers=headers) for body in (with_nulls, without)
    ]
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert answers[0].json() | {"request_id": ""} == answers[1].json() | {"request_id": ""}
    # the model's own answer for those missing values
    with cards_project.tracking():
        model = mlflow.pyfunc.load_model(cards_project.model_uri)
    expected = model.predict(pd.DataFrame([with_nulls], columns=list(contract.feature_names)))
    assert answers[0].json()["score"] == int(expected["score"].iloc[0])
    assert answers[0].json()["decision"] == expected["decision"].iloc[0]


def _point(served: Path, model_dir: Path) -> None:
    """Put a copy of another model's files at the served path (the previous files are kept
    aside, not deleted). A copy, not a symlink: MLflow refuses artifacts that resolve outside
    the model directory."""
    staged = served.with_name(f"{served.name}.staged")
    shutil.copytree(model_dir, staged)
    served.rename(served.with_name(f"{served.name}.retired-{len(list(served.parent.iterdir()))}"))
    staged.rename(served)


def test_reload_to_a_model_with_another_contract(
    keys, tracking, trained_project, cards_project, local_model_dir, cards_model_dir, tmp_path
):
    """German -> cards -> German under load: no 5xx, each client sees one switch, and the
    contract, request schema and /openapi.json change with the model."""
    german, cards = trained_project.contract, cards_project.contract
    assert german.digest != cards.digest
    with cards_project.tracking():
        cards_model = mlflow.pyfunc.load_model(cards_project.model_uri)
    assert contract_of_model(cards_model).digest == cards.digest
    served = tmp_path / "served"
    shutil.copytree(local_model_dir, served)
    settings = make_settings(keys, tmp_path / "audit.jsonl", model_uri=str(served))
    headers = {"x-api-key": keys.valid}
    admin = {"x-api-key": keys.admin}
    with running_app(settings) as client:
        assert client.get("/v1/model", headers=headers).json()["contract_digest"] == german.digest
        statuses: dict[str, list[int]] = {"german": [], "cards": []}
        stop = threading.Event()

        def load(portfolio: str, body: dict) -> None:
            while not stop.is_set():
                statuses[portfolio].append(
                    client.post("/v1/score", json=body, headers=headers).status_code
                )

        threads = [
            threading.Thread(target=load, args=("german", german.example_applicant())),
            threading.Thread(target=load, args=("cards", cards.example_applicant())),
        ]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.5)
            _point(served, cards_model_dir)
            reload = client.post("/v1/admin/reload", headers=admin)
            assert reload.status_code == 200, reload.text
            assert reload.json()["contract_digest"] == cards.digest
            assert reload.json()["contract"] == cards.as_dict()
            count = len(statuses["cards"])
            wait_until(lambda: len(statuses["cards"]) > count + 5, 60, "cards requests")
        finally:
            stop.set()
            for thread in threads:
                thread.join()

        # German bodies: accepted until the swap, refused by the cards contract after; cards
        # bodies the other way round; never a server error, never back to the old contract.
        for portfolio, before, after in (("german", 200, 422), ("cards", 422, 200)):
            seen = statuses[portfolio]
            assert set(seen) <= {before, after}, (portfolio, sorted(set(seen)))
            switch = seen.index(after)
            assert set(seen[switch:]) == {after}, f"{portfolio}: went back to the old contract"
        assert statuses["german"][0] == 200 and statuses["cards"][-1] == 200

        applicant = client.get("/openapi.json").json()["components"]["schemas"]["Applicant"]
        assert list(applicant["properties"]) == list(cards.feature_names)
        answer = client.post("/v1/score", json=cards.example_applicant(), headers=headers).json()
        expected = cards_model.predict(
            pd.DataFrame([cards.example_applicant()], columns=list(cards.feature_names))
        )
        assert answer["score"] == int(expected["score"].iloc[0])
        refused = client.post("/v1/score", json=german.example_applicant(), headers=headers)
        assert refused.status_code == 422
        assert {e["loc"][-1] for e in refused.json()["detail"] if e["type"] == "missing"} == {
            c.name for c in cards.features if not c.nullable
        }

        # and back: the German contract returns with the German model
        _point(served, local_model_dir)
        assert client.post("/v1/admin/reload", headers=admin).json()["contract_digest"] == (
            german.digest
        )
        assert (
            client.post("/v1/score", json=german.example_applicant(), headers=headers).status_code
            == 200
        )
        applicant = client.get("/openapi.json").json()["components"]["schemas"]["Applicant"]
        assert list(applicant["properties"]) == list(german.feature_names)
