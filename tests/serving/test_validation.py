"""Validation over HTTP against the served model's contract: each bad field is a 422 naming it;
oversize bodies 413; batch size limits. (Per-field rules on both shipped contracts, without a
model: test_request_schema.py.)"""

from __future__ import annotations

import json


def _bad_cases(contract):
    """(field, bad value, error type) for every input of the served model's contract."""
    for c in contract.features:
        if c.is_categorical:
            yield c.name, "certainly not a category", "literal_error"
            yield c.name, 3, "literal_error"
            continue
        number, type_error = (int, "int_type") if c.type == "integer" else (float, "float_type")
        yield c.name, "not-a-number", type_error
        if c.type == "integer":
            yield c.name, 2.5, "int_type"
        yield c.name, number(c.minimum) - 1, "greater_than_equal"
        yield c.name, number(c.maximum) + 1, "less_than_equal"


def _error_for(response, field):
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    matching = [e for e in errors if e["loc"][-1] == field]
    assert matching, f"no error names {field}: {errors}"
    return matching[0]


def test_served_contract_is_the_trained_one(api, contract):
    assert api.app.state.store.get().contract.digest == contract.digest


def test_each_bad_field_is_named(api, keys, contract):
    cases = list(_bad_cases(contract))
    assert len(cases) >= 2 * len(contract.features)
    for field, value, error_type in cases:
        applicant = {**contract.example_applicant(), field: value}
        response = api.post("/v1/score", json=applicant, headers={"x-api-key": keys.valid})
        error = _error_for(response, field)
        assert (error["type"], error["loc"]) == (error_type, ["body", field]), (field, value)


def test_each_missing_field_is_named(api, keys, contract):
    for c in contract.features:
        applicant = contract.example_applicant()
        del applicant[c.name]
        response = api.post("/v1/score", json=applicant, headers={"x-api-key": keys.valid})
        if c.nullable:
            assert response.status_code == 200, response.text
        else:
            assert _error_for(response, c.name)["type"] == "missing"


def test_extra_field_is_refused_not_dropped(api, keys, contract):
    applicant = {**contract.example_applicant(), "not_a_characteristic": 50_000}
    response = api.post("/v1/score", json=applicant, headers={"x-api-key": keys.valid})
    assert _error_for(response, "not_a_characteristic")["type"] == "extra_forbidden"


def test_bad_row_in_batch_names_row_and_field(api, keys, contract):
    number = next(c for c in contract.features if not c.is_categorical)
    rows = [contract.example_applicant() for _ in range(3)]
    rows[1][number.name] = (int if number.type == "integer" else float)(number.maximum) + 1
    response = api.post(
        "/v1/score/batch", json={"applicants": rows}, headers={"x-api-key": keys.valid}
    )
    error = _error_for(response, number.name)
    assert error["loc"] == ["body", "applicants", 1, number.name]
    assert error["type"] == "less_than_equal"


def test_empty_batch_is_a_clear_422(api, keys):
    response = api.post(
        "/v1/score/batch", json={"applicants": []}, headers={"x-api-key": keys.valid}
    )
    error = _error_for(response, "applicants")
    assert "empty" in error["msg"] and "QF_MAX_BATCH" in error["msg"]


def test_batch_over_the_maximum_is_a_clear_422(api, keys, contract):
    size = api.app.state.settings.max_batch + 1
    body = json.dumps({"applicants": [contract.example_applicant()] * size})
    response = api.post(
        "/v1/score/batch",
        content=body,
        headers={"x-api-key": keys.valid, "content-type": "application/json"},
    )
    error = _error_for(response, "applicants")
    assert f"has {size} applicants" in error["msg"] and "10000" in error["msg"]


def test_oversize_body_is_413(api, keys, contract):
    limit = api.app.state.settings.max_body_bytes
    body = json.dumps({"applicants": [contract.example_applicant()]}).ljust(limit + 10)
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
    assert response.json()["detail"][0]["loc"] == ["body"]


def test_body_that_is_not_utf8_is_422(api, keys):
    response = api.post(
        "/v1/score",
        content=b'{"\xff\xfe": 1}',
        headers={"x-api-key": keys.valid, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"
