"""The form's fields, the batch template and the client-side checks, all drawn from the contract.

The contract is the one the API publishes with its served model (`GET /v1/model` → `contract`):
names, types, bounds, labels, sections and examples come from there, never from this package, so
the same front end serves any portfolio. Values are checked with the contract's own rule
(`Characteristic.problem`), the one the API applies.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from quantumfinance.contract import ApplicantContract, Characteristic, ContractError
from quantumfinance_frontend.api_client import ContractUnavailable

MISSING_LABEL = "Unknown / missing"
EXAMPLE_ID = "A-0001"


@dataclass(frozen=True)
class RowProblem:
    """One bad value in an uploaded file: 1-based row number as a spreadsheet shows it, field, why."""

    row: int
    field: str
    problem: str


def contract_from_model_info(info: dict[str, Any]) -> ApplicantContract:
    """The served model's contract from a `GET /v1/model` answer (ContractUnavailable if none)."""
    data = info.get("contract") if isinstance(info, dict) else None
    if not isinstance(data, dict):
        raise ContractUnavailable(
            "The scoring API does not publish the applicant contract of its model "
            "(GET /v1/model has no `contract`), so the form cannot be drawn. Update the API."
        )
    try:
        return ApplicantContract.from_dict(data, origin="GET /v1/model contract")
    except ContractError as exc:
        raise ContractUnavailable(f"The API's applicant contract is not valid: {exc}") from exc


def label(contract: ApplicantContract | None, name: str) -> str:
    """The plain-language label of a column (its readable name when the contract has none)."""
    if contract is not None:
        if name in contract.by_name:
            return contract.by_name[name].title
        if name == contract.target.name:
            return contract.target.label
    return name.replace("_", " ").capitalize()


def sections(contract: ApplicantContract) -> dict[str, list[Characteristic]]:
    """The model's inputs grouped by form section, sections in order of first appearance."""
    grouped: dict[str, list[Characteristic]] = {}
    for characteristic in contract.features:
        grouped.setdefault(characteristic.section, []).append(characteristic)
    return grouped


def allowed_values(characteristic: Characteristic) -> str:
    """What the contract allows, as a loan officer reads it: `1–120` with the unit, or the labels."""
    if characteristic.is_categorical:
        return ", ".join(category_label(characteristic, v) for v in characteristic.categories)
    unit = f" {characteristic.unit}" if characteristic.unit else ""
    low, high = (_number(v) for v in (characteristic.minimum, characteristic.maximum))
    return f"{low}–{high}{unit}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def help_text(characteristic: Characteristic) -> str:
    """Description, the allowed range (with unit) and whether it may be unknown, for the tooltip."""
    parts = [(characteristic.description or characteristic.title).rstrip(".") + "."]
    if not characteristic.is_categorical:
        kind = "whole number" if characteristic.type == "integer" else "decimals allowed"
        parts.append(f"Allowed: {allowed_values(characteristic)} ({kind}).")
    if characteristic.nullable:
        parts.append("May be left unknown.")
    parts.append(f"Column `{characteristic.name}`.")
    return " ".join(parts)


def category_label(characteristic: Characteristic, value: str | None) -> str:
    """How a category reads on the form: the contract's label for it, or the value itself."""
    if value is None:
        return MISSING_LABEL
    return characteristic.category_labels.get(value, value)


def category_options(characteristic: Characteristic) -> list[str | None]:
    """The choices of a categorical field; None (unknown/missing) last when it is nullable."""
    options: list[str | None] = list(characteristic.categories or ())
    return [*options, None] if characteristic.nullable else options


def missing_key(name: str) -> str:
    """Widget key of a nullable number's "unknown" box (the field's own widget key is its name)."""
    return f"{name}__unknown"


def number_input_args(characteristic: Characteristic) -> dict[str, Any]:
    """Bounds, default, step and display format of a numeric field's input."""
    default = characteristic.default_example
    if characteristic.type == "integer":
        return {
            "min_value": int(characteristic.minimum),
            "max_value": int(characteristic.maximum),
            "value": int(default),
            "step": 1,
            "format": "%d",
        }
    # A step of about a thousandth of the range; enough decimals to show it (at least two).
    span = characteristic.maximum - characteristic.minimum
    exponent = math.floor(math.log10(span)) - 3 if span > 0 else -2
    decimals = max(2, -exponent)
    return {
        "min_value": float(characteristic.minimum),
        "max_value": float(characteristic.maximum),
        "value": float(default),
        "step": float(10.0**exponent),
        "format": f"%.{decimals}f",
    }


def template_csv(contract: ApplicantContract) -> bytes:
    """A CSV with the expected header (optional id first) and one example applicant."""
    row = {contract.id.name: EXAMPLE_ID, **contract.example_applicant()}
    return pd.DataFrame([row]).to_csv(index=False).encode()


def read_applicants_csv(content: bytes) -> pd.DataFrame:
    """Parse an uploaded CSV as text so that no value is coerced (or lost) before validation."""
    frame = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False)
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def check_columns(frame: pd.DataFrame, contract: ApplicantContract) -> list[str]:
    """Problems with the header itself: missing model inputs or columns the contract lacks.

    The id, the target and characteristics the model does not use may be present: they are kept
    in the results but never sent to the API.
    """
    missing = [c for c in contract.feature_names if c not in frame.columns]
    unexpected = [c for c in frame.columns if c not in contract.columns]
    problems = [f"missing column `{c}`" for c in missing]
    problems += [
        f"unexpected column `{c}` (not part of the applicant contract)" for c in unexpected
    ]
    return problems


def ignored_columns(frame: pd.DataFrame, contract: ApplicantContract) -> list[str]:
    """Contract columns in the file that are not model inputs (the target, characteristics the
    model does not use): accepted, kept in the results, never sent for scoring."""
    skip = {*contract.feature_names, contract.id.name}
    return [c for c in frame.columns if c in contract.columns and c not in skip]


def parse_value(characteristic: Characteristic, raw: str) -> tuple[Any, str | None]:
    """Convert one CSV cell to the contract's type; returns (value, problem).

    An empty cell is a missing value: valid (sent as null) only for a nullable characteristic.
    """
    text = raw.strip()
    if text == "":
        return None, (None if characteristic.nullable else "is empty")
    value: Any = text
    if not characteristic.is_categorical:
        try:
            number = float(text)
        except ValueError:
            return None, f"'{text}' is not a number"
        if not math.isfinite(number):
            return None, f"'{text}' is not a finite number"
        whole = characteristic.type == "integer" and number.is_integer()
        value = int(number) if whole else number
    problem = characteristic.problem(value)
    return (None, problem) if problem else (value, None)


def validate_applicants(
    frame: pd.DataFrame, contract: ApplicantContract
) -> tuple[list[int], list[dict], list[RowProblem]]:
    """Split rows into valid applicant payloads (with their positions) and per-field problems."""
    positions: list[int] = []
    payloads: list[dict] = []
    problems: list[RowProblem] = []
    for position, record in enumerate(frame.to_dict(orient="records")):
        applicant, row_problems = {}, []
        for characteristic in contract.features:
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


def problems_table(problems: list[RowProblem], contract: ApplicantContract) -> pd.DataFrame:
    """The problems as a table a loan officer can fix the file from."""
    return pd.DataFrame(
        [
            {
                "row": p.row,
                "field": p.field,
                "label": label(contract, p.field),
                "problem": p.problem,
            }
            for p in problems
        ],
        columns=["row", "field", "label", "problem"],
    )
