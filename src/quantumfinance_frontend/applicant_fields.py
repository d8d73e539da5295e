"""Plain-language labels, help texts and client-side checks, all derived from the applicant contract.

The contract (`quantumfinance.applicant_schema`) is the single source for names, categories and
bounds; this module only adds the short labels a loan officer reads on the form.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from typing import Any

import pandas as pd

from quantumfinance.applicant_schema import (
    BY_NAME,
    CHARACTERISTICS,
    FEATURE_COLUMNS,
    ID_COLUMN,
    Characteristic,
    example_applicant,
    load_german_credit,
)

LABELS: dict[str, str] = {
    "checking_status": "Checking account balance",
    "duration_months": "Loan duration (months)",
    "credit_history": "Credit history",
    "purpose": "Loan purpose",
    "credit_amount": "Amount requested (DM)",
    "savings_status": "Savings and bonds",
    "employment_since": "Time in current job",
    "installment_rate": "Instalment burden (1 = lowest, 4 = highest)",
    "personal_status_sex": "Personal status and sex",
    "other_debtors": "Other debtors or guarantors",
    "residence_since": "Years at current address (class 1–4)",
    "property": "Most valuable property",
    "age": "Age (years)",
    "other_installment_plans": "Other instalment plans",
    "housing": "Housing",
    "existing_credits": "Existing credits at this bank",
    "job": "Job",
    "num_dependents": "People supported financially",
    "telephone": "Telephone in own name",
    "foreign_worker": "Foreign worker",
}

# Form sections, so the 20 fields read like an application rather than a database row.
SECTIONS: dict[str, tuple[str, ...]] = {
    "The loan": ("credit_amount", "duration_months", "purpose", "installment_rate"),
    "Finances": (
        "checking_status",
        "savings_status",
        "credit_history",
        "existing_credits",
        "other_installment_plans",
        "other_debtors",
        "property",
    ),
    "The applicant": (
        "age",
        "personal_status_sex",
        "num_dependents",
        "employment_since",
        "job",
        "housing",
        "residence_since",
        "telephone",
        "foreign_worker",
    ),
}


@dataclass(frozen=True)
class RowProblem:
    """One bad value in an uploaded file: 1-based row number as a spreadsheet shows it, field, why."""

    row: int
    field: str
    problem: str


def label(name: str) -> str:
    """The plain-language label of a field."""
    return LABELS.get(name, name.replace("_", " ").capitalize())


def help_text(characteristic: Characteristic) -> str:
    """Description plus the allowed range, for the form's tooltip."""
    if characteristic.is_categorical:
        return f"{characteristic.description}. Column `{characteristic.name}`."
    return (
        f"{characteristic.description}. Allowed: {characteristic.minimum}–"
        f"{characteristic.maximum}. Column `{characteristic.name}`."
    )


@cache
def typical_applicant() -> dict[str, str | int]:
    """Form defaults: the most common answer (median for numbers) among the 1,000 real applicants."""
    applicants = load_german_credit()
    return {
        c.name: (
            str(applicants[c.name].mode().iloc[0])
            if c.is_categorical
            else int(applicants[c.name].median())
        )
        for c in CHARACTERISTICS
    }


def template_csv() -> bytes:
    """A CSV with the expected header and one example applicant, for the batch upload."""
    row = {ID_COLUMN: "A-0001", **example_applicant()}
    return pd.DataFrame([row]).to_csv(index=False).encode()


def read_applicants_csv(content: bytes) -> pd.DataFrame:
    """Parse an uploaded CSV as text so that no value is coerced (or lost) before validation."""
    frame = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def check_columns(frame: pd.DataFrame) -> list[str]:
    """Problems with the header itself: missing or unexpected columns."""
    missing = [c for c in FEATURE_COLUMNS if c not in frame.columns]
    unexpected = [c for c in frame.columns if c not in (*FEATURE_COLUMNS, ID_COLUMN)]
    problems = [f"missing column `{c}`" for c in missing]
    problems += [
        f"unexpected column `{c}` (not part of the applicant contract)" for c in unexpected
    ]
    return problems


def parse_value(characteristic: Characteristic, raw: str) -> tuple[Any, str | None]:
    """Convert one CSV cell to the contract's type; returns (value, problem)."""
    text = raw.strip()
    if text == "":
        return None, "is empty"
    if characteristic.is_categorical:
        if text in characteristic.categories:
            return text, None
        return None, f"'{text}' is not one of the allowed categories"
    return _parse_whole_number(characteristic, text)


def _parse_whole_number(characteristic: Characteristic, text: str) -> tuple[Any, str | None]:
    """A whole number within the contract's bounds (e.g. '24' or '24.0')."""
    try:
        number = float(text)
    except ValueError:
        return None, f"'{text}' is not a number"
    if not number.is_integer():
        return None, f"'{text}' must be a whole number"
    value = int(number)
    if not characteristic.minimum <= value <= characteristic.maximum:
        return None, f"{value} is outside {characteristic.minimum}–{characteristic.maximum}"
    return value, None


def validate_applicants(frame: pd.DataFrame) -> tuple[list[int], list[dict], list[RowProblem]]:
    """Split rows into valid applicant payloads (with their positions) and per-field problems."""
    positions: list[int] = []
    payloads: list[dict] = []
    problems: list[RowProblem] = []
    for position, record in enumerate(frame.to_dict(orient="records")):
        applicant, row_problems = {}, []
        for characteristic in CHARACTERISTICS:
            value, problem = parse_value(characteristic, str(record.get(characteristic.name, "")))
            if problem:
                row_problems.append(RowProblem(position + 1, characteristic.name, problem))
            applicant[characteristic.name] = value
        if row_problems:
            problems.extend(row_problems)
        else:
            positions.append(position)
            payloads.append(applicant)
    return positions, payloads, problems


def problems_table(problems: list[RowProblem]) -> pd.DataFrame:
    """The problems as a table a loan officer can fix the file from."""
    return pd.DataFrame(
        [
            {"row": p.row, "field": p.field, "label": label(p.field), "problem": p.problem}
            for p in problems
        ],
        columns=["row", "field", "label", "problem"],
    )


def characteristic(name: str) -> Characteristic:
    """Look up a field of the contract by name."""
    return BY_NAME[name]
