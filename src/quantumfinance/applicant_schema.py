"""The applicant contract: column names, types, allowed values and meanings.

One source for the pandera validation, the data dictionary, the synthetic generator and the
serving API's request schema. Values follow the Statlog German Credit data (Hofmann, UCI,
CC BY 4.0, DOI 10.24432/C5NC77) with the readable labels of its public CSV copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import pandas as pd

ID_COLUMN = "applicant_id"
TARGET_COLUMN = "default"  # 1 = bad (defaulted), 0 = good


@dataclass(frozen=True)
class Characteristic:
    """One applicant attribute as the model and the API see it."""

    name: str
    source_name: str
    description: str
    categories: tuple[str, ...] = field(default_factory=tuple)
    minimum: int | None = None
    maximum: int | None = None
    example: str | int | None = None

    @property
    def is_categorical(self) -> bool:
        return bool(self.categories)


def _cat(name: str, source: str, description: str, *categories: str) -> Characteristic:
    return Characteristic(name, source, description, categories=categories, example=categories[0])


def _num(name: str, source: str, description: str, lo: int, hi: int, ex: int) -> Characteristic:
    return Characteristic(name, source, description, minimum=lo, maximum=hi, example=ex)


CHARACTERISTICS: tuple[Characteristic, ...] = (
    _cat(
        "checking_status",
        "status_of_existing_checking_account",
        "Balance of the applicant's existing checking account (DM)",
        "... < 0 DM",
        "0 <= ... < 200 DM",
        "... >= 200 DM / salary assignments for at least 1 year",
        "no checking account",
    ),
    _num("duration_months", "duration_in_month", "Loan duration in months", 1, 120, 24),
    _cat(
        "credit_history",
        "credit_history",
        "Repayment history of earlier credits",
        "no credits taken/ all credits paid back duly",
        "all credits at this bank paid back duly",
        "existing credits paid back duly till now",
        "delay in paying off in the past",
        "critical account/ other credits existing (not at this bank)",
    ),
    _cat(
        "purpose",
        "purpose",
        "What the loan is for",
        "car (new)",
        "car (used)",
        "furniture/equipment",
        "radio/television",
        "domestic appliances",
        "repairs",
        "education",
        "retraining",
        "business",
        "others",
    ),
    _num("credit_amount", "credit_amount", "Amount requested (DM)", 100, 100_000, 2500),
    _cat(
        "savings_status",
        "savings_account_and_bonds",
        "Savings account and bonds balance (DM)",
        "... < 100 DM",
        "100 <= ... < 500 DM",
        "500 <= ... < 1000 DM",
        "... >= 1000 DM",
        "unknown/ no savings account",
    ),
    _cat(
        "employment_since",
        "present_employment_since",
        "Time in the present employment",
        "unemployed",
        "... < 1 year",
        "1 <= ... < 4 years",
        "4 <= ... < 7 years",
        "... >= 7 years",
    ),
    _num(
        "installment_rate",
        "installment_rate_in_percentage_of_disposable_income",
        "Instalment as a share of disposable income, in classes 1 (lowest) to 4 (highest)",
        1,
        4,
        2,
    ),
    _cat(
        "personal_status_sex",
        "personal_status_and_sex",
        "Personal status and sex (protected attribute: used for fairness reporting)",
        "male : divorced/separated",
        "female : divorced/separated/married",
        "male : single",
        "male : married/widowed",
    ),
    _cat(
        "other_debtors",
        "other_debtors_or_guarantors",
        "Other debtors or guarantors on the loan",
        "none",
        "co-applicant",
        "guarantor",
    ),
    _num(
        "residence_since",
        "present_residence_since",
        "Years at the present residence, in classes 1 to 4",
        1,
        4,
        2,
    ),
    _cat(
        "property",
        "property",
        "Most valuable property",
        "real estate",
        "building society savings agreement/ life insurance",
        "car or other, not in attribute Savings account/bonds",
        "unknown / no property",
    ),
    _num("age", "age_in_years", "Age in years (protected attribute)", 18, 100, 35),
    _cat(
        "other_installment_plans",
        "other_installment_plans",
        "Other instalment plans the applicant pays",
        "bank",
        "stores",
        "none",
    ),
    _cat("housing", "housing", "Housing situation", "rent", "own", "for free"),
    _num(
        "existing_credits",
        "number_of_existing_credits_at_this_bank",
        "Number of existing credits at this bank",
        1,
        10,
        1,
    ),
    _cat(
        "job",
        "job",
        "Employment type and skill level",
        "unemployed/ unskilled - non-resident",
        "unskilled - resident",
        "skilled employee / official",
        "management/ self-employed/ highly qualified employee/ officer",
    ),
    _num(
        "num_dependents",
        "number_of_people_being_liable_to_provide_maintenance_for",
        "Number of people the applicant provides maintenance for",
        0,
        10,
        1,
    ),
    _cat(
        "telephone",
        "telephone",
        "Telephone registered under the applicant's name",
        "none",
        "yes, registered under the customers name",
    ),
    _cat("foreign_worker", "foreign_worker", "Foreign worker", "yes", "no"),
)

BY_NAME: dict[str, Characteristic] = {c.name: c for c in CHARACTERISTICS}
FEATURE_COLUMNS: tuple[str, ...] = tuple(c.name for c in CHARACTERISTICS)
CATEGORICAL_COLUMNS: tuple[str, ...] = tuple(c.name for c in CHARACTERISTICS if c.is_categorical)
NUMERIC_COLUMNS: tuple[str, ...] = tuple(c.name for c in CHARACTERISTICS if not c.is_categorical)
ALL_COLUMNS: tuple[str, ...] = (ID_COLUMN, *FEATURE_COLUMNS, TARGET_COLUMN)
SOURCE_TARGET = "creditability"  # "good" / "bad" in the source file


def example_applicant() -> dict[str, str | int]:
    """One valid applicant (features only), e.g. for API docs and smoke tests."""
    return {c.name: c.example for c in CHARACTERISTICS}


def load_german_credit() -> pd.DataFrame:
    """The 1,000 real applicants shipped with the package, renamed to the contract's columns."""
    path = resources.files("quantumfinance") / "resources" / "german_credit.csv.gz"
    with resources.as_file(path) as csv_path:
        raw = pd.read_csv(csv_path)
    renamed = raw.rename(columns={c.source_name: c.name for c in CHARACTERISTICS})
    renamed[TARGET_COLUMN] = (renamed.pop(SOURCE_TARGET) == "bad").astype("int64")
    renamed.insert(0, ID_COLUMN, range(1, len(renamed) + 1))
    return renamed[list(ALL_COLUMNS)]
