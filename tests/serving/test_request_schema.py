"""The request schema, the body check and the audit hash come from the contract (a constant
scoring model of it stands in for a trained one).

Runs on both shipped contracts (German credit and cards): everything is derived from whichever
contract is given, so the same assertions hold for each.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math

import pytest

from quantumfinance_serving.audit import input_hasher
from quantumfinance_serving.bodies import BodyError, applicants, decode
from quantumfinance_serving.model_store import parse_model_uri
from quantumfinance_serving.schemas import request_schema
from quantumfinance_serving.scoring import MicroBatcher
from tests.serving.helpers import constant_model, random_applicants, shipped_contract, stub_model

PORTFOLIOS = ("base", "cards")


@pytest.fixture(params=PORTFOLIOS)
def contract(request):
    return shipped_contract(request.param)


class Checker:
    """What the API does with a body, for one contract: decode, then the runtime's check."""

    def __init__(self, contract) -> None:
        self.model = constant_model(contract, 600)

    def applicant_from_json(self, raw: bytes) -> dict:
        checked = applicants(self.model, decode(raw), batch=False, max_batch=1)
        return {n: checked.rows[0].get(n) for n in self.model.feature_names}

    def applicants_from_json(self, raw: bytes) -> list[dict]:
        return applicants(self.model, decode(raw), batch=True, max_batch=10_000).rows


def _errors(schema, body: dict | bytes) -> list[dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(BodyError) as caught:
        schema.applicant_from_json(raw)
    return [{**e, "loc": tuple(e["loc"][1:])} for e in caught.value.errors]


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
    errors = _errors(Checker(cards), applicant)
    assert [(e["loc"], e["type"]) for e in errors] == [((excluded[0],), "extra_forbidden")]


def test_examples_and_random_applicants_are_valid(contract):
    schema = Checker(contract)
    for applicant in [contract.example_applicant(), *random_applicants(contract, 200, seed=3)]:
        parsed = schema.applicant_from_json(json.dumps(applicant).encode())
        assert parsed == applicant
        assert not contract.feature_problems(parsed)  # the contract's own check agrees


def test_each_bad_value_is_named_with_its_type(contract):
    schema = Checker(contract)
    for field, value, error_type in _bad_cases(contract):
        errors = _errors(schema, {**contract.example_applicant(), field: value})
        assert [(e["loc"], e["type"]) for e in errors] == [((field,), error_type)], (field, value)
        # whatever the schema refuses, the contract refuses too (same rule, two places)
        assert field in contract.feature_problems({**contract.example_applicant(), field: value})


def test_missing_inputs_required_unless_nullable(contract):
    schema = Checker(contract)
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
    schema = Checker(cards)
    name = next(c.name for c in cards.features if c.type == "float")
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"1e400"):
        body = json.dumps({**cards.example_applicant(), name: 0}).encode()
        body = body.replace(f'"{name}": 0'.encode(), f'"{name}": '.encode() + literal)
        errors = _errors(schema, body)
        assert [e["loc"] for e in errors] == [(name,)], (literal, errors)


def test_batch_errors_name_row_and_field(contract):
    schema = Checker(contract)
    rows = [contract.example_applicant() for _ in range(3)]
    field = contract.features[-1].name
    rows[1][field] = "certainly wrong" if not contract.features[-1].is_categorical else 3
    with pytest.raises(BodyError) as caught:
        schema.applicants_from_json(json.dumps({"applicants": rows}).encode())
    assert [e["loc"] for e in caught.value.errors] == [["body", "applicants", 1, field]]


def test_a_whole_number_written_with_a_point_is_an_integer(contract):
    """The published schema says `integer`; JSON Schema counts 35.0 as one, and so does the
    check (schemathesis may send it)."""
    schema = Checker(contract)
    for c in contract.features:
        if c.type == "integer":
            value = float(math.ceil(c.minimum))
            parsed = schema.applicant_from_json(
                json.dumps({**contract.example_applicant(), c.name: value}).encode()
            )
            assert parsed[c.name] == value


def test_errors_are_bounded_and_never_echo_long_input(contract):
    schema = Checker(contract)
    rows = [{"x" * 10_000 + str(i): 1} for i in range(5_000)]
    with pytest.raises(BodyError) as caught:
        schema.applicants_from_json(json.dumps({"applicants": rows}).encode())
    errors = caught.value.errors
    assert len(errors) == 21 and errors[-1]["type"] == "too_many"
    assert str(5_000 + 5_000 * 0) in errors[-1]["msg"] or "problems in all" in errors[-1]["msg"]
    assert max(len(json.dumps(e)) for e in errors) < 400


def test_input_hash_is_the_documented_digest(contract):
    hash_of = input_hasher(contract.feature_names)
    for applicant in random_applicants(contract, 50, seed=1, missing_share=0.3):
        joined = "\x1f".join(str(applicant.get(name)) for name in contract.feature_names)
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
            batcher.score(
                model,
                applicants(model.scoring, model.contract.example_applicant(), False, 1),
                f"r{i}",
                "k",
            )
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
    assert [json.loads(r.results_json[0])["score"] for r in results] == [500, 500, 700, 500, 700]
    by_request = {r["request_id"]: r for r in audit.records}
    assert by_request["r2"]["model_version"] == "2" and by_request["r3"]["model_version"] == "1"
    assert by_request["r2"]["input_sha256"] == new.input_hash(cards.example_applicant())
    assert not math.isnan(by_request["r0"]["pd"])
