"""The request schema, input frame and audit hash come from the contract; no model needed.

Runs on both shipped contracts (German credit and cards): everything is derived from whichever
contract is given, so the same assertions hold for each.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from quantumfinance.contract import ContractError
from quantumfinance_serving.audit import input_hasher
from quantumfinance_serving.model_store import FrameLayout, applicants_frame, parse_model_uri
from quantumfinance_serving.schemas import request_schema
from quantumfinance_serving.scoring import MicroBatcher
from tests.serving.helpers import random_applicants, shipped_contract, stub_model

PORTFOLIOS = ("base", "cards")


@pytest.fixture(params=PORTFOLIOS)
def contract(request):
    return shipped_contract(request.param)


def _errors(schema, body: dict | bytes) -> list[dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(ValidationError) as caught:
        schema.applicant_from_json(raw)
    return caught.value.errors(include_url=False, include_input=False)


def _bad_cases(contract):
    """(field, bad value, pydantic error type) for every input of the contract."""
    for c in contract.features:
        if c.is_categorical:
            yield c.name, "certainly not a category", "literal_error"
            yield c.name, 3, "literal_error"
            continue
        number_type = "int_type" if c.type == "integer" else "float_type"
        yield c.name, "not-a-number", number_type
        yield c.name, True, number_type
        number = int if c.type == "integer" else float
        if c.type == "integer":
            yield c.name, 2.5, "int_type"
        yield c.name, number(c.minimum) - 1, "greater_than_equal"
        yield c.name, number(c.maximum) + 1, "less_than_equal"


def test_schema_is_built_once_per_contract(contract):
    assert request_schema(contract) is request_schema(contract)
    other = shipped_contract("cards" if contract.portfolio.name.startswith("German") else "base")
    assert request_schema(other) is not request_schema(contract)


def test_json_schema_shows_the_contracts_fields(contract):
    schemas = request_schema(contract).json_schemas("#/components/schemas/{model}")
    applicant = schemas["Applicant"]
    assert list(applicant["properties"]) == list(contract.feature_names)
    assert applicant["additionalProperties"] is False
    assert applicant["required"] == [c.name for c in contract.features if not c.nullable]
    assert applicant["examples"] == [contract.example_applicant()]
    for c in contract.features:
        prop = applicant["properties"][c.name]
        assert prop["title"] == c.title
        assert (c.description or c.title) in prop["description"]
        assert prop["examples"] == [c.default_example]
        kinds = prop["anyOf"] if c.nullable else [prop]
        if c.nullable:
            assert {"type": "null"} in kinds and "may be null" in prop["description"].lower()
        value = next(k for k in kinds if k.get("type") != "null")
        if c.is_categorical:
            assert value["enum"] == list(c.categories)
        else:
            assert value["type"] == ("integer" if c.type == "integer" else "number")
            assert value["minimum"] == c.minimum and value["maximum"] == c.maximum
    batch = schemas["BatchRequest"]
    assert batch["properties"]["applicants"]["items"] == {"$ref": "#/components/schemas/Applicant"}
    assert batch["additionalProperties"] is False


def test_protected_attribute_outside_the_model_is_not_a_request_field():
    cards = shipped_contract("cards")
    excluded = [c.name for c in cards.characteristics if not c.use_in_model]
    assert excluded, "the cards contract keeps a protected attribute out of the model"
    applicant = {**cards.example_applicant(), excluded[0]: cards.by_name[excluded[0]].categories[0]}
    errors = _errors(request_schema(cards), applicant)
    assert [(e["loc"], e["type"]) for e in errors] == [((excluded[0],), "extra_forbidden")]


def test_examples_and_random_applicants_are_valid(contract):
    schema = request_schema(contract)
    for applicant in [contract.example_applicant(), *random_applicants(contract, 200, seed=3)]:
        parsed = schema.applicant_from_json(json.dumps(applicant).encode())
        assert parsed == applicant
        assert not contract.feature_problems(parsed)  # the contract's own check agrees


def test_each_bad_value_is_named_with_its_type(contract):
    schema = request_schema(contract)
    for field, value, error_type in _bad_cases(contract):
        errors = _errors(schema, {**contract.example_applicant(), field: value})
        assert [(e["loc"], e["type"]) for e in errors] == [((field,), error_type)], (field, value)
        # whatever the schema refuses, the contract refuses too (same rule, two places)
        assert field in contract.feature_problems({**contract.example_applicant(), field: value})


def test_missing_inputs_required_unless_nullable(contract):
    schema = request_schema(contract)
    for c in contract.features:
        applicant = contract.example_applicant()
        del applicant[c.name]
        if c.nullable:
            assert schema.applicant_from_json(json.dumps(applicant).encode())[c.name] is None
            nulled = {**contract.example_applicant(), c.name: None}
            assert schema.applicant_from_json(json.dumps(nulled).encode())[c.name] is None
        else:
            assert [(e["loc"], e["type"]) for e in _errors(schema, applicant)] == [
                ((c.name,), "missing")
            ]
            nulled = {**contract.example_applicant(), c.name: None}
            assert _errors(schema, nulled)[0]["loc"] == (c.name,)


def test_non_finite_floats_are_refused():
    cards = shipped_contract("cards")
    schema = request_schema(cards)
    name = next(c.name for c in cards.features if c.type == "float")
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e400"):
        body = json.dumps({**cards.example_applicant(), name: 0}).encode()
        body = body.replace(f'"{name}": 0'.encode(), f'"{name}": '.encode() + literal)
        errors = _errors(schema, body)
        assert [e["loc"] for e in errors] == [(name,)], (literal, errors)


def test_batch_errors_name_row_and_field(contract):
    schema = request_schema(contract)
    rows = [contract.example_applicant() for _ in range(3)]
    field = contract.features[-1].name
    rows[1][field] = "certainly wrong" if not contract.features[-1].is_categorical else 3
    with pytest.raises(ValidationError) as caught:
        schema.applicants_from_json(json.dumps({"applicants": rows}).encode())
    assert [e["loc"] for e in caught.value.errors()] == [("applicants", 1, field)]


def test_frame_has_the_signatures_dtypes(contract):
    applicants = random_applicants(contract, 300, seed=5, missing_share=0.3)
    layout = FrameLayout.of(contract)
    frame = applicants_frame(applicants, layout)
    assert list(frame.columns) == list(contract.feature_names)
    for c in contract.features:
        if c.is_categorical:
            assert frame[c.name].dtype.kind in "OT" or isinstance(
                frame[c.name].dtype, pd.StringDtype
            )
        elif c.type == "integer" and not c.nullable:
            assert frame[c.name].dtype == np.int64
        else:
            assert frame[c.name].dtype == np.float64  # floats and nullable integers: NaN = missing
    # the same values as the straightforward construction, cast as the signature says
    expected = pd.DataFrame.from_records(applicants, columns=list(contract.feature_names))
    expected = expected.astype({n: d for n, d in layout.dtypes.items() if d is not None})
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert layout.conform(frame) is frame  # already conforming: no copy on the serving path


def test_all_missing_nullable_number_is_a_float_column():
    cards = shipped_contract("cards")
    layout = FrameLayout.of(cards)
    nullable = [c.name for c in cards.features if c.nullable and not c.is_categorical]
    rows = [{**cards.example_applicant(), **dict.fromkeys(nullable)} for _ in range(3)]
    frame = applicants_frame(rows, layout)
    for name in nullable:
        assert frame[name].dtype == np.float64 and frame[name].isna().all()


def test_layout_follows_the_model_signature_and_refuses_a_mismatch():
    from mlflow.types.schema import ColSpec, Schema  # noqa: PLC0415

    cards = shipped_contract("cards")
    as_strings = Schema(
        [ColSpec("string", c.name, required=not c.nullable) for c in cards.features]
    )
    assert set(FrameLayout.of(cards, as_strings).dtypes.values()) == {None}
    wrong = Schema([ColSpec("string", c.name) for c in reversed(cards.features)])
    with pytest.raises(ContractError, match="signature inputs"):
        FrameLayout.of(cards, wrong)


def test_conform_casts_numbers_and_requires_columns(contract):
    layout = FrameLayout.of(contract)
    applicants = random_applicants(contract, 20, seed=9, missing_share=0.0)
    loose = pd.DataFrame(applicants)[list(reversed(contract.feature_names))]
    conformed = layout.conform(loose)
    pd.testing.assert_frame_equal(conformed, applicants_frame(applicants, layout))
    required = next(c.name for c in contract.features if not c.nullable)
    with pytest.raises(ContractError, match=required):
        layout.conform(loose.drop(columns=[required]))


def test_input_hash_is_the_documented_digest(contract):
    hash_of = input_hasher(contract.feature_names)
    for applicant in random_applicants(contract, 50, seed=1, missing_share=0.3):
        joined = "\x1f".join(str(applicant[name]) for name in contract.feature_names)
        assert hash_of(applicant) == hashlib.sha256(joined.encode()).hexdigest()


def test_input_hash_of_a_one_input_model():
    hash_of = input_hasher(["balance"])
    assert hash_of({"balance": 12.5}) == hashlib.sha256(b"12.5").hexdigest()


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/credit-score@champion", ("credit-score", None, "champion")),
        ("models:/credit-score/12", ("credit-score", "12", None)),
        ("models:/my.model_v2@challenger", ("my.model_v2", None, "challenger")),
    ],
)
def test_model_uri_is_parsed(uri, expected):
    ref = parse_model_uri(uri)
    assert (ref.name, ref.version, ref.alias) == expected


@pytest.mark.parametrize(
    "uri",
    ["models:/credit-score", "models:/credit-score/Production", "models:/credit-score/latest",
     "models:/a/b/1", "models:/credit-score@", "models:/@champion", "models:/m-0123abcd"],
)  # fmt: skip
def test_unpinnable_model_uri_is_refused(uri):
    with pytest.raises(ValueError, match="must be models:/<name>@<alias>"):
        parse_model_uri(uri)


class _Audit:
    def __init__(self) -> None:
        self.records: list[dict] = []

    def append(self, records: list[dict]) -> None:
        self.records.extend(records)

    def close(self) -> None:
        return None


def test_a_micro_batch_never_mixes_models():
    """Jobs queued for two models (two contracts) are scored by their own model, in order."""
    german, cards = shipped_contract("base"), shipped_contract("cards")
    old, new = stub_model(german, "1", points=500), stub_model(cards, "2", points=700)
    audit = _Audit()

    async def scenario() -> list:
        batcher = MicroBatcher(audit, max_rows=1000)
        # queued before the consumer runs: all five would share one call without the model rule
        jobs = [
            batcher.score(model, [model.contract.example_applicant()], f"r{i}", "k")
            for i, model in enumerate([old, old, new, old, new])
        ]
        tasks = [asyncio.ensure_future(job) for job in jobs]
        await asyncio.sleep(0)
        batcher.start()
        results = await asyncio.gather(*tasks)
        await batcher.stop()
        return results

    results = asyncio.run(scenario())
    assert [r.model for r in results] == [old, old, new, old, new]
    assert [r.results[0]["score"] for r in results] == [500, 500, 700, 500, 700]
    assert [len(f) for f in old.pyfunc.frames] == [2, 1]
    assert [len(f) for f in new.pyfunc.frames] == [1, 1]
    for model in (old, new):
        for frame in model.pyfunc.frames:
            assert list(frame.columns) == list(model.contract.feature_names)
    by_request = {r["request_id"]: r for r in audit.records}
    assert by_request["r2"]["model_version"] == "2" and by_request["r3"]["model_version"] == "1"
    assert by_request["r2"]["input_sha256"] == new.input_hash(cards.example_applicant())
    assert not math.isnan(by_request["r0"]["pd"])
