"""data_engineering nodes: each kind of bad raw input gets a named quarantine reason or a clear error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quantumfinance.pipelines.data_engineering.nodes import (
    REASONS_COLUMN,
    enforce_quarantine_limit,
    split_applicants,
)
from quantumfinance.pipelines.data_engineering.nodes import (
    validate_applicants as _validate,
)
from tests.support.portfolios import contract, raw_applicants

GERMAN = contract("base")
ALL_COLUMNS = GERMAN.columns
CATEGORICAL_COLUMNS = [c.name for c in GERMAN.characteristics if c.is_categorical]


def validate_applicants(raw: pd.DataFrame, env: str = "base"):
    return _validate(raw, contract(env))


@pytest.fixture
def raw() -> pd.DataFrame:
    return raw_applicants("base")


def _reasons(quarantined: pd.DataFrame) -> dict[int, str]:
    return dict(zip(quarantined["applicant_id"], quarantined[REASONS_COLUMN], strict=True))


def test_clean_table_passes_whole_and_typed(raw):
    screened, quarantined, report = validate_applicants(raw)
    assert quarantined.empty
    assert report["rows_in"] == report["rows_valid"] == 1000
    assert list(screened.columns) == list(ALL_COLUMNS)
    for column in ALL_COLUMNS:
        expected = "str" if column in CATEGORICAL_COLUMNS else "int64"
        assert screened[column].dtype == expected, column


def test_age_out_of_range_is_quarantined(raw):
    raw.loc[raw["applicant_id"] == 5, "age"] = 130
    screened, quarantined, report = validate_applicants(raw)
    assert _reasons(quarantined) == {5: "age: in_range(18, 100)"}
    assert 5 not in set(screened["applicant_id"])
    assert report["failed_checks"] == {"age: in_range(18, 100)": 1}


def test_unknown_category_is_quarantined(raw):
    raw.loc[raw["applicant_id"] == 9, "purpose"] = "yacht"
    _, quarantined, _ = validate_applicants(raw)
    assert _reasons(quarantined) == {9: "purpose: unknown_category"}
    assert quarantined.loc[0, "purpose"] == "yacht"  # kept as it arrived, for the reviewer


def test_missing_or_unreadable_target_is_quarantined(raw):
    raw.loc[raw["applicant_id"] == 3, "default"] = np.nan
    raw.loc[raw["applicant_id"] == 4, "default"] = "maybe"
    screened, quarantined, _ = validate_applicants(raw)
    assert _reasons(quarantined) == {3: "default: missing", 4: "default: unreadable_target"}
    assert screened["default"].dtype == "int64"
    assert set(screened["default"]) == {0, 1}
    assert screened["default"].sum() == (raw["default"] == "bad").sum()


def test_duplicate_id_quarantines_the_later_row_only(raw):
    raw.loc[raw["applicant_id"] == 20, "applicant_id"] = 10
    screened, quarantined, _ = validate_applicants(raw)
    assert quarantined[REASONS_COLUMN].tolist() == ["applicant_id: duplicate"]
    assert quarantined["credit_amount"].item() == raw_applicants().loc[19, "credit_amount"]
    assert (screened["applicant_id"] == 10).sum() == 1


def test_wrong_dtype_in_some_cells_is_quarantined(raw):
    raw["age"] = raw["age"].astype(object)
    raw.loc[raw["applicant_id"] == 1, "age"] = "thirty"
    raw.loc[raw["applicant_id"] == 2, "age"] = 33.5
    _, quarantined, _ = validate_applicants(raw)
    assert _reasons(quarantined) == {1: "age: not_an_integer", 2: "age: not_an_integer"}


def test_every_failed_check_of_a_row_is_named(raw):
    raw["housing"] = raw["housing"].astype(object)
    raw.loc[raw["applicant_id"] == 7, ["age", "housing", "duration_months"]] = [10, None, 500]
    _, quarantined, _ = validate_applicants(raw)
    reasons = set(quarantined[REASONS_COLUMN].item().split("; "))
    assert reasons == {
        "age: in_range(18, 100)",
        "housing: missing",
        "duration_months: in_range(1, 120)",
    }


def test_rows_in_equal_valid_plus_quarantined(raw):
    rng = np.random.default_rng(0)
    bad = rng.choice(len(raw), 37, replace=False)
    raw.loc[bad, "age"] = 5
    screened, quarantined, report = validate_applicants(raw)
    assert len(screened) + len(quarantined) == len(raw)
    assert report["rows_quarantined"] == 37
    assert set(screened["applicant_id"]).isdisjoint(quarantined["applicant_id"])


def test_missing_column_is_a_clear_error(raw):
    with pytest.raises(ValueError, match="missing required column\\(s\\): credit_amount, job"):
        validate_applicants(raw.drop(columns=["credit_amount", "job"]))


def test_whole_column_of_wrong_dtype_is_a_clear_error(raw):
    raw["age"] = "unknown"
    with pytest.raises(ValueError, match="column 'age' cannot be read as integers"):
        validate_applicants(raw)


def test_numeric_codes_in_a_categorical_column_are_a_clear_error(raw):
    raw["purpose"] = 3
    with pytest.raises(ValueError, match="column 'purpose' has numeric dtype int64"):
        validate_applicants(raw)


def test_empty_table_is_a_clear_error(raw):
    with pytest.raises(ValueError, match="raw_applicants has no rows"):
        validate_applicants(raw.head(0))


def test_extra_columns_are_reported_not_passed_on(raw):
    screened, _, report = validate_applicants(raw.assign(branch_code="B12"))
    assert report["ignored_columns"] == ["branch_code"]
    assert "branch_code" not in screened.columns


def test_quarantine_limit_names_counts_and_worst_checks(raw):
    raw.loc[:99, "age"] = 5
    raw.loc[:9, "purpose"] = "yacht"
    screened, _, report = validate_applicants(raw)
    with pytest.raises(ValueError) as failure:
        enforce_quarantine_limit(screened, report, max_quarantine_fraction=0.05)
    message = str(failure.value)
    assert "100 of 1000 applicants (10.0%)" in message
    assert "age: in_range(18, 100) (100 rows)" in message
    assert "purpose: unknown_category (10 rows)" in message
    assert enforce_quarantine_limit(screened, report, 0.10) is screened


def test_split_is_stratified_seeded_and_complete(raw):
    screened, _, _ = validate_applicants(raw)
    train, test = split_applicants(screened, GERMAN, test_size=0.25, seed=42)
    assert len(train) == 750 and len(test) == 250
    assert train["default"].mean() == pytest.approx(0.3, abs=0.005)
    assert test["default"].mean() == pytest.approx(0.3, abs=0.005)
    assert set(train["applicant_id"]).isdisjoint(test["applicant_id"])
    assert list(train.columns) == list(test.columns) == list(ALL_COLUMNS)
    again, _ = split_applicants(screened, GERMAN, test_size=0.25, seed=42)
    pd.testing.assert_frame_equal(again, train)
    other, _ = split_applicants(screened, GERMAN, test_size=0.25, seed=1)
    assert set(other["applicant_id"]) != set(train["applicant_id"])


def test_split_needs_both_classes(raw):
    screened, _, _ = validate_applicants(raw)
    with pytest.raises(ValueError, match="need at least 2 goods and 2 bads"):
        split_applicants(screened[screened["default"] == 0], GERMAN, test_size=0.25, seed=1)


# ----------------------------------------------------------------------------- cards portfolio


@pytest.fixture
def cards() -> pd.DataFrame:
    return raw_applicants("cards")


def test_cards_floats_missing_values_and_text_target_pass_typed(cards):
    c = contract("cards")
    screened, quarantined, report = validate_applicants(cards, "cards")
    assert quarantined.empty and len(screened) == len(cards)
    assert report["ignored_columns"] == ["Branch code"]
    for characteristic in c.characteristics:
        column = screened[characteristic.name]
        if characteristic.type == "float":
            assert column.dtype == "float64", characteristic.name
            assert (column % 1 != 0).any(), f"{characteristic.name} keeps its decimals"
        if characteristic.nullable:
            assert column.isna().sum() == cards[characteristic.name].isna().sum() > 0
    target = c.target.name
    assert screened[target].dtype == "int64"
    assert screened[target].sum() == (cards[target] == "Yes").sum()


def test_cards_rules_from_the_contract_quarantine_each_bad_value(cards):
    cards = cards.astype({"student": object, "months_on_book": "float64"})
    cards.loc[0, "balance"] = -1.5  # below the minimum
    cards.loc[1, "utilisation"] = np.inf  # not a finite number
    cards.loc[2, "student"] = None  # missing where the contract does not allow it
    cards.loc[3, "defaulted"] = "Maybe"  # neither Yes nor No
    cards.loc[4, "months_on_book"] = 12.5  # an integer characteristic
    cards.loc[5, "income"] = np.nan  # nullable: valid
    screened, quarantined, _ = validate_applicants(cards, "cards")
    assert dict(zip(quarantined["customer_id"], quarantined[REASONS_COLUMN], strict=True)) == {
        1: "balance: in_range(0, 100000)",
        2: "utilisation: not_a_number",
        3: "student: missing",
        4: "defaulted: unreadable_target",
        5: "months_on_book: not_an_integer",
    }
    assert len(screened) + len(quarantined) == len(cards)
    assert 6 in set(screened["customer_id"])
