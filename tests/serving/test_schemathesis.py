"""Property-based API tests over /openapi.json with a valid key: no 5xx, responses conform.

Both generation modes run on every operation: positive cases (fit the schema: must be
accepted, answered as documented) and negative ones (do not fit it: must be refused with a
4xx, `negative_data_rejection`, and never a 5xx).

Run once per shipped portfolio against a server on its trained model. The request schema is the
served model's contract, so the document the cases are drawn from is the one the app publishes
while a model carrying that contract is served; each server checks that it publishes exactly
that request schema.
"""

from __future__ import annotations

import os

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from quantumfinance_serving import Settings, create_app
from tests.serving.conftest import make_settings, served_over_http
from tests.serving.helpers import shipped_contract, stub_model

IN_CI = os.environ.get("CI") == "true"
# Only the two scoring operations have a body to vary; they carry the >= 500 cases in CI.
EXAMPLES_PER_OPERATION = 260 if IN_CI else 15
CASES: list[tuple[str, str]] = []  # (operation, generation mode) of every case sent
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]


def _published(env: str) -> dict:
    """/openapi.json of an app serving a model with the shipped ``env`` contract.

    Built at import (schemathesis parametrizes at collection; its lazy fixture loader does not
    work with pytest 9) on a stand-in model: only the request schema depends on the model."""
    app = create_app(Settings(api_keys=""))
    app.state.store.current = stub_model(shipped_contract(env), "0")
    return app.openapi()


DOCUMENTS = {"german": _published("base"), "cards": _published("cards")}
german_schema = schemathesis.openapi.from_dict(DOCUMENTS["german"])
cards_schema = schemathesis.openapi.from_dict(DOCUMENTS["cards"])
for _schema in (german_schema, cards_schema):
    _schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


def _serve(keys, tmp_path_factory, portfolio: str, **overrides):
    audit = tmp_path_factory.mktemp("schemathesis") / "audit.jsonl"
    with served_over_http(make_settings(keys, audit, **overrides)) as url:
        published = httpx.get(f"{url}/openapi.json", timeout=10).json()["components"]["schemas"]
        for name in ("Applicant", "BatchRequest"):
            assert published[name] == DOCUMENTS[portfolio]["components"]["schemas"][name], name
        yield url


@pytest.fixture(scope="module")
def german_url(keys, tracking, tmp_path_factory):
    yield from _serve(keys, tmp_path_factory, "german")


@pytest.fixture(scope="module")
def cards_url(keys, cards_model_dir, tmp_path_factory):
    yield from _serve(keys, tmp_path_factory, "cards", model_uri=str(cards_model_dir))


HYPOTHESIS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


def _call_and_validate(case, url: str, key: str) -> None:
    CASES.append((case.operation.label, case.meta.generation.mode))
    response = case.call(base_url=url, headers={"x-api-key": key})
    case.validate_response(response, checks=CHECKS, headers={"x-api-key": key})


@german_schema.parametrize()
@HYPOTHESIS
def test_api_conforms_to_its_schema(case, keys, german_url):
    _call_and_validate(case, german_url, keys.valid)


@cards_schema.parametrize()
@HYPOTHESIS
def test_api_on_cards_conforms_to_its_schema(case, keys, cards_url):
    _call_and_validate(case, cards_url, keys.valid)


def test_enough_cases_were_generated():
    """Runs after the parametrized tests above (file order): counts what they sent."""
    if not CASES:
        pytest.skip("run together with test_api_conforms_to_its_schema")
    assert len(CASES) >= (500 if IN_CI else 30), len(CASES)
    operations = {path for path in DOCUMENTS["german"]["paths"]}
    assert {label.split(" ", 1)[1] for label, _ in CASES} == operations  # every route
    negative = {label for label, mode in CASES if mode == GenerationMode.NEGATIVE}
    assert {"POST /v1/score", "POST /v1/score/batch"} <= negative, sorted(negative)
