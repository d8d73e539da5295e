"""Property-based API tests over /openapi.json with a valid key: no 5xx, responses conform."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from quantumfinance_serving import Settings, create_app
from tests.serving.conftest import make_settings, served_over_http

IN_CI = os.environ.get("CI") == "true"
# Only the two scoring operations have a body to vary; they carry the >= 500 cases in CI.
EXAMPLES_PER_OPERATION = 260 if IN_CI else 15
CASES: list[str] = []


@pytest.fixture(scope="module")
def api_url(keys, tracking, tmp_path_factory):
    audit = tmp_path_factory.mktemp("schemathesis") / "audit.jsonl"
    with served_over_http(make_settings(keys, audit)) as url:
        yield url


# The schema a fresh app publishes at /openapi.json (building the app starts nothing);
# the cases are sent over HTTP to the running server of `api_url`.
schema = schemathesis.openapi.from_dict(create_app(Settings(api_keys="")).openapi())


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_schema(case, keys, api_url):
    CASES.append(case.operation.label)
    case.call_and_validate(
        base_url=api_url,
        headers={"x-api-key": keys.valid},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
            negative_data_rejection,
        ],
    )


def test_enough_cases_were_generated():
    """Runs after the parametrized test above (file order): counts what it sent."""
    if not CASES:
        pytest.skip("run together with test_api_conforms_to_its_schema")
    assert len(CASES) >= (500 if IN_CI else 30), len(CASES)
