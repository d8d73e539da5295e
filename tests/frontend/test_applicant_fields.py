"""The form's helpers, the batch template and the client-side checks, on every shipped contract.

No API needed: the contracts are read from conf/<env>/applicant_contract.yml, and no test names a
column: each picks fields by what the contract says about them (type, nullable, bounds).
"""

from __future__ import annotations

import io

import pandas as pd
import pytest

from quantumfinance.contract import ApplicantContract, load_contract
from quantumfinance_frontend.api_client import ContractUnavailable
from quantumfinance_frontend.applicant_fields import (
    MISSING_LABEL,
    category_label,
    category_options,
    check_columns,
    contract_from_model_info,
    help_text,
    label,
    number_input_args,
    parse_value,
    read_applicants_csv,
    sections,
    template_csv,
    validate_applicants,
)
from tests.support.services import REPO_ROOT

CONTRACT_FILES = sorted(REPO_ROOT.glob("conf/*/applicant_contract.yml"))


@pytest.fixture(params=CONTRACT_FILES, ids=lambda p: p.parent.name)
def contract(request) -> ApplicantContract:
    return load_contract(request.param)


def test_every_shipped_portfolio_has_a_contract():
    assert {p.parent.name for p in CONTRACT_FILES} >= {"base", "cards"}


def test_model_info_without_a_contract_is_explained():
    with pytest.raises(ContractUnavailable, match="does not publish the applicant contract"):
        contract_from_model_info({"name": "credit-score", "version": "1"})
    with pytest.raises(ContractUnavailable, match="not valid"):
        contract_from_model_info({"contract": {"portfolio": {"name": "x"}}})


def test_contract_round_trips_through_the_model_info(contract):
    served = contract_from_model_info({"contract": contract.as_dict()})
    assert served.digest == contract.digest


def test_template_is_a_valid_upload(contract):
    frame = read_applicants_csv(template_csv(contract))
    positions, payloads, problems = validate_applicants(frame, contract)
    assert (positions, problems) == ([0], [])
    assert payloads[0] == contract.example_applicant()
    assert list(payloads[0]) == list(contract.feature_names)
    assert pd.read_csv(io.BytesIO(template_csv(contract))).columns[0] == contract.id.name
    assert check_columns(frame, contract) == []


def test_sections_hold_every_model_input_once_in_contract_order(contract):
    grouped = sections(contract)
    names = [c.name for fields in grouped.values() for c in fields]
    assert sorted(names) == sorted(contract.feature_names)
    assert list(grouped) == list(dict.fromkeys(c.section for c in contract.features))


def test_help_and_inputs_follow_type_bounds_and_nullability(contract):
    for spec in contract.features:
        text = help_text(spec)
        assert f"`{spec.name}`" in text
        assert ("May be left unknown" in text) == spec.nullable
        if spec.is_categorical:
            options = category_options(spec)
            assert (None in options) == spec.nullable
            assert [category_label(spec, v) for v in options if v is not None] == [
                spec.category_labels.get(v, v) for v in spec.categories
            ]
            continue
        args = number_input_args(spec)
        assert args["min_value"] <= args["value"] <= args["max_value"]
        assert args["value"] == spec.default_example
        number_type = int if spec.type == "integer" else float
        assert {type(args[k]) for k in ("min_value", "max_value", "value", "step")} == {number_type}


def test_missing_cells_are_null_only_where_the_contract_allows(contract):
    for spec in contract.features:
        value, problem = parse_value(spec, "  ")
        assert value is None
        assert problem == (None if spec.nullable else "is empty")


def test_numbers_are_parsed_by_contract_type(contract):
    for spec in contract.features:
        if spec.is_categorical:
            assert parse_value(spec, spec.categories[-1]) == (spec.categories[-1], None)
            value, problem = parse_value(spec, "spaceship")
            assert value is None and "not one of the allowed categories" in problem
            continue
        low, high = spec.minimum, spec.maximum
        if spec.type == "integer":
            assert parse_value(spec, f"{int(low)}.0") == (int(low), None)
            assert isinstance(parse_value(spec, f" {int(high)} ")[0], int)
            assert parse_value(spec, f"{low + 0.5}")[1].endswith("is not a whole number")
        else:
            middle = (low + high) / 2 + 0.25
            assert parse_value(spec, repr(middle)) == (middle, None)
            assert isinstance(parse_value(spec, str(int(low)))[0], float)
        assert "above the maximum" in parse_value(spec, str(high * 2 + 1))[1]
        assert parse_value(spec, "lots")[1] == "'lots' is not a number"
        assert parse_value(spec, "nan")[1] == "'nan' is not a finite number"


def test_header_problems_name_missing_and_foreign_columns(contract):
    first, *rest = contract.feature_names
    frame = pd.DataFrame(columns=[contract.id.name, *rest, "shoe_size"])
    assert check_columns(frame, contract) == [
        f"missing column `{first}`",
        "unexpected column `shoe_size` (not part of the applicant contract)",
    ]
    # characteristics the model does not use (e.g. protected ones) may ride along
    others = [c.name for c in contract.characteristics if not c.use_in_model]
    frame = pd.DataFrame(columns=[*contract.feature_names, *others, contract.target.name])
    assert check_columns(frame, contract) == []


def test_labels_come_from_the_contract(contract):
    for spec in contract.characteristics:
        assert label(contract, spec.name) == spec.title
    assert label(contract, contract.target.name) == contract.target.label
    assert label(None, "some_column") == "Some column"
    nullable = [c for c in contract.features if c.is_categorical and c.nullable]
    for spec in nullable:
        assert category_label(spec, None) == MISSING_LABEL
