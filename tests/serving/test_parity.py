"""Parity: the API's answers equal the registered model's own predict, every field, every row,
on both shipped portfolios (German credit: the registry champion; cards: its champion's files).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import mlflow
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from quantumfinance.contract import ApplicantContract, contract_of_model
from tests.serving.helpers import json_applicants, random_applicants

FIELDS = ["pd", "score", "band", "decision", "reason_codes", "positive_factors"]


def _reasons(items) -> list[dict]:
    """Reason objects as JSON gives them back: `points` only when the model reports it (models
    logged before points and positive factors existed give `{code, text}`)."""
    return [
        {
            "code": str(r["code"]),
            "text": str(r["text"]),
            **({"points": float(r["points"])} if r.get("points") is not None else {}),
        }
        for r in items
    ]


def _as_returned(result: dict) -> dict:
    """The API's result with reason objects normalised as `_reasons` does."""
    return {
        **result,
        "reason_codes": _reasons(result["reason_codes"]),
        "positive_factors": _reasons(result["positive_factors"]),
    }


def _rows(frame: pd.DataFrame) -> list[dict]:
    """A scored frame's rows as the API's JSON gives them back."""
    return [
        {
            "pd": float(row["pd"]),
            "score": int(row["score"]),
            "band": str(row["band"]),
            "decision": str(row["decision"]),
            "reason_codes": _reasons(row["reason_codes"]),
            "positive_factors": _reasons(row["positive_factors"]),
        }
        for row in frame[FIELDS].to_dict("records")
    ]


@dataclass
class Served:
    """One portfolio: the app serving its model, 1,000 applicants and what predict says."""

    client: TestClient
    contract: ApplicantContract
    applicants: list[dict]
    expected: list[dict]
    project: object


def _applicants(project) -> list[dict]:
    """1,000 applicants: the project's test split topped up with random valid ones (about a
    tenth of each nullable input missing)."""
    contract = project.contract
    real = json_applicants(project.applicants_test.head(500), contract)
    return real + random_applicants(contract, 1000 - len(real), seed=7)


@pytest.fixture(scope="module", params=["german", "cards"])
def served(request, tracking) -> Served:
    """The app and `mlflow.pyfunc.load_model(uri).predict` of the same registered version."""
    project_fixture, app_fixture = {
        "german": ("trained_project", "api"),
        "cards": ("cards_project", "cards_api"),
    }[request.param]
    project = request.getfixturevalue(project_fixture)
    client = request.getfixturevalue(app_fixture)
    contract = project.contract
    applicants = _applicants(project)
    with project.tracking():
        model = mlflow.pyfunc.load_model(project.model_uri)
        champion = mlflow.MlflowClient().get_model_version_by_alias("credit-score", "champion")
    served_model = client.app.state.store.get()
    assert served_model.identity.run_id == champion.run_id  # same model on both sides
    assert served_model.contract.digest == contract_of_model(model).digest == contract.digest
    frame = model.predict(pd.DataFrame(applicants, columns=list(contract.feature_names)))
    assert len(frame) == len(applicants)
    if "positive_factors" not in frame:  # a model from before positive factors: none served
        frame["positive_factors"] = [[] for _ in range(len(frame))]
    expected = _rows(frame)
    return Served(client, contract, applicants, expected, project)


def test_batch_equals_predict_row_for_row(served, keys):
    response = served.client.post(
        "/v1/score/batch", json={"applicants": served.applicants}, headers={"x-api-key": keys.valid}
    )
    assert response.status_code == 200, response.text[:500]
    results = [_as_returned(r) for r in response.json()["results"]]
    assert len(results) == len(served.expected)
    mismatches = [
        i
        for i, (got, want) in enumerate(zip(results, served.expected, strict=False))
        if got != want
    ]
    assert not mismatches, (
        f"{len(mismatches)} rows differ, first {mismatches[0]}: "
        f"{results[mismatches[0]]} != {served.expected[mismatches[0]]}"
    )
    # the answers are not degenerate: the comparison had something to compare
    assert len({r["decision"] for r in results}) >= 2 and any(r["reason_codes"] for r in results)
    nullable = [c.name for c in served.contract.features if c.nullable]
    if nullable:  # rows with missing inputs were among them
        assert any(a[name] is None for a in served.applicants for name in nullable)


def test_concurrent_single_requests_equal_predict(served, keys):
    """Micro-batched singles (many requests per model call) still get their own row back.

    PD is compared to 1e-12 relative: predict itself is not bit-stable across batch sizes (BLAS
    sums in another order for 1 row than for 1,000), so a row scored in a micro-batch of 3 may
    differ from the 1,000-row call in the last bit. Every other field must be equal.
    """

    def score(i: int) -> tuple[int, dict]:
        response = served.client.post(
            "/v1/score", json=served.applicants[i], headers={"x-api-key": keys.valid}
        )
        assert response.status_code == 200, response.text
        return i, response.json()

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(score, range(0, 1000, 5)))
    for i, answer in answers:
        want = served.expected[i]
        body = _as_returned(answer)
        assert body["pd"] == pytest.approx(want["pd"], rel=1e-12, abs=0), f"row {i}"
        assert {k: body[k] for k in FIELDS if k != "pd"} == {
            k: want[k] for k in FIELDS if k != "pd"
        }, f"row {i}"


def test_api_batch_scoring_and_predict_return_identical_outputs(served, keys, tmp_path):
    """One runtime, three consumers: the API, a batch-scoring partition (what each Dask worker
    runs) and the registered model's pyfunc predict give identical rows for the same
    applicants -- every field, PD to the bit."""
    from quantumfinance.pipelines.batch_scoring.nodes import (  # noqa: PLC0415
        resolve_scoring_model,
        score_partition,
    )

    response = served.client.post(
        "/v1/score/batch", json={"applicants": served.applicants}, headers={"x-api-key": keys.valid}
    )
    api = [_as_returned(r) for r in response.json()["results"]]
    id_name = served.contract.id.name
    book = pd.DataFrame(served.applicants, columns=list(served.contract.feature_names))
    book.insert(0, id_name, range(len(book)))
    project = served.project
    with project.tracking():
        pinned = resolve_scoring_model(project.model_uri)
    result = score_partition(book, 0, pinned, str(tmp_path / "staging"), {})
    assert result["rows_scored"] == len(book) and result["rows_quarantined"] == 0
    scored = pd.read_parquet(tmp_path / "staging" / "scored").sort_values(id_name)
    batch = _rows(scored)
    assert api == served.expected == batch
    assert {r["decision"] for r in batch} >= {"approve"} and any(r["reason_codes"] for r in batch)
