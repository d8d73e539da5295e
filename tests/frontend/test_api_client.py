"""The front end's API client and chunked batch scoring against the real API process."""

from __future__ import annotations

import pytest

from quantumfinance_frontend.api_client import ApiUnavailable, ScoringClient, ValidationFailed
from quantumfinance_frontend.applicant_fields import RowProblem
from quantumfinance_frontend.batch import score_in_chunks
from quantumfinance_frontend.settings import load_settings
from tests.support.services import free_port


@pytest.fixture
def client(scoring_api) -> ScoringClient:
    return ScoringClient(scoring_api.url, scoring_api.key)


@pytest.fixture
def contract(german_portfolio):
    return german_portfolio.contract


def test_model_info_carries_the_contract_the_api_validates_with(client, contract):
    info = client.model_info()
    assert info["contract"] == contract.as_dict()
    assert info.get("contract_digest") in (None, contract.digest)


def test_422_names_the_field_for_one_applicant_and_the_row_in_a_batch(client, contract):
    example = contract.example_applicant()
    numeric = next(c for c in contract.features if not c.is_categorical)
    categorical = next(c for c in contract.features if c.is_categorical)
    with pytest.raises(ValidationFailed) as single:
        too_small = numeric.minimum - 1
        client.score(
            example | {numeric.name: int(too_small) if numeric.type == "integer" else too_small}
        )
    assert [(e.field, e.row) for e in single.value.errors] == [(numeric.name, None)]

    batch = [dict(example) for _ in range(5)]
    batch[3] = batch[3] | {categorical.name: "spaceship"}
    with pytest.raises(ValidationFailed) as many:
        client.score_batch(batch)
    assert {(e.field, e.row) for e in many.value.errors} == {(categorical.name, 3)}
    assert categorical.name in str(many.value)


def test_chunks_drop_only_the_rows_the_api_rejects(client, contract):
    numeric = next(c for c in contract.features if not c.is_categorical)
    categorical = next(c for c in contract.features if c.is_categorical)
    step = (numeric.maximum - numeric.minimum) / 25
    payloads = [
        contract.example_applicant()
        | {numeric.name: (int if numeric.type == "integer" else float)(numeric.minimum + i * step)}
        for i in range(25)
    ]
    payloads[12] = payloads[12] | {categorical.name: "spaceship"}  # slipped past client checks
    progress = []

    outcome = score_in_chunks(
        client,
        list(range(25)),
        payloads,
        chunk_size=10,
        on_progress=lambda d, t: progress.append(d),
    )

    assert outcome.error is None
    assert sorted(outcome.results) == [i for i in range(25) if i != 12]
    assert [(p.row, p.field) for p in outcome.problems] == [(13, categorical.name)]
    assert isinstance(outcome.problems[0], RowProblem)
    assert progress == [10, 20, 25]
    direct = client.score(payloads[20])
    assert outcome.results[20]["score"] == direct["score"]
    assert outcome.model["name"] == "credit-score"


def test_a_stopped_api_is_unavailable_not_a_traceback():
    with pytest.raises(ApiUnavailable, match="cannot be reached"):
        ScoringClient(f"http://127.0.0.1:{free_port()}", "any").health()


def test_environment_overrides_secrets(monkeypatch):
    monkeypatch.setenv("QF_API_URL", "http://127.0.0.1:9999")
    monkeypatch.setenv("QF_API_KEY", "qf_from_env")
    settings = load_settings()
    assert (settings.api_url, settings.api_key) == ("http://127.0.0.1:9999", "qf_from_env")
