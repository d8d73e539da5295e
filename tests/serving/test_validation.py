"""Validation: each bad field is a 422 naming it; oversize bodies 413; batch size limits."""

from __future__ import annotations

import json

import pytest

from quantumfinance.applicant_schema import CHARACTERISTICS, example_applicant

NUMERIC = [c for c in CHARACTERISTICS if not c.is_categorical]
CATEGORICAL = [c for c in CHARACTERISTICS if c.is_categorical]


def _bad_cases():
    for c in NUMERIC:
        yield c.name, "not-a-number", "int_type"
        yield c.name, 2.5, "int_type"
        yield c.name, c.minimum - 1, "greater_than_equal"
        yield c.name, c.maximum + 1, "less_than_equal"
    for c in CATEGORICAL:
        yield c.name, "certainly not a category", "literal_error"
        yield c.name, 3, "literal_error"


def _error_for(response, field):
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    matching = [e for e in errors if e["loc"][-1] == field]
    assert matching, f"no error names {field}: {errors}"
    return matching[0]


@pytest.mark.parametrize(("field", "value", "error_type"), list(_bad_cases()))
def test_each_bad_field_is_named(api, keys, field, value, error_type):
    applicant = {**example_applicant(), field: value}
    response = api.post("/v1/score", json=applicant, headers={"x-api-key": keys.valid})
    error = _error_for(response, field)
    assert error["type"] == error_type
    assert error["loc"] == ["body", field]


@pytest.mark.parametrize("field", [c.name for c in CHARACTERISTICS])
def test_each_missing_field_is_named(api, keys, field):
    applicant = example_applicant()
    del applicant[field]
    response = api.post("/v1/score", json=applicant, headers={"x-api-key": keys.valid})
    assert _error_for(response, field)["type"] == "missing"


def test_extra_field_is_refused_not_dropped(api, keys):
    applicant = {**example_applicant(), "annual_income": 50_000}
    response = api.post("/v1/score", json=applicant, headers={"x-api-key": keys.valid})
    assert _error_for(response, "annual_income")["type"] == "extra_forbidden"


def test_bad_row_in_batch_names_row_and_field(api, keys):
    rows = [example_applicant() for _ in range(3)]
    rows[1]["age"] = 7
    response = api.post(
        "/v1/score/batch", json={"applicants": rows}, headers={"x-api-key": keys.valid}
    )
    assert _error_for(response, "age")["loc"] == ["body", "applicants", 1, "age"]


def test_empty_batch_is_a_clear_422(api, keys):
    response = api.post(
        "/v1/score/batch", json={"applicants": []}, headers={"x-api-key": keys.valid}
    )
    error = _error_for(response, "applicants")
    assert "empty" in error["msg"] and "QF_MAX_BATCH" in error["msg"]


def test_batch_over_the_maximum_is_a_clear_422(api, keys):
    size = api.app.state.settings.max_batch + 1
    body = json.dumps({"applicants": [example_applicant()] * size})
    response = api.post(
        "/v1/score/batch",
        content=body,
        headers={"x-api-key": keys.valid, "content-type": "application/json"},
    )
    error = _error_for(response, "applicants")
    assert f"has {size} applicants" in error["msg"] and "10000" in error["msg"]


def test_oversize_body_is_413(api, keys):
    limit = api.app.state.settings.max_body_bytes
    body = json.dumps({"applicants": [example_applicant()]}).ljust(limit + 10)
    response = api.post(
        "/v1/score/batch",
        content=body,
        headers={"x-api-key": keys.valid, "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert "QF_MAX_BODY_BYTES" in response.json()["detail"]


def test_oversize_streamed_body_without_length_is_413(api, keys):
    limit = api.app.state.settings.max_body_bytes

    def chunks():
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    response = api.post(
        "/v1/score/batch",
        content=chunks(),
        headers={"x-api-key": keys.valid, "content-type": "application/json"},
    )
    assert response.status_code == 413


def test_malformed_json_is_422(api, keys):
    response = api.post(
        "/v1/score",
        content=b"{not json",
        headers={"x-api-key": keys.valid, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
