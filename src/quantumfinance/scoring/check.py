"""The contract check: applicants' columns -> slots and numbers, or the failing rows by field.

One rule for every consumer (``value_problem``; the contract's ``Characteristic.problem`` calls
it too), applied vectorised: per column a few numpy operations whatever the row count. Text is
compared as text: a category is valid only as one of the contract's strings ("01" is not 1).
Columns may be numpy arrays, lists, or pyarrow arrays (a parquet record batch's columns).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quantumfinance.scoring.model import Feature, ScoringModel

MAX_PROBLEMS = 20  # failures named per call; the total is always counted
SMALL = 64  # rows up to which a dict lookup per value beats Arrow's per-call cost
FEW = 8  # rows up to which the rule per value beats a few numpy calls per column


class ApplicantsError(ValueError):
    """Applicants break the model's contract: ``problems`` lists (row, field, issue)."""

    def __init__(self, problems: list[tuple[int, str, Issue]], total: int) -> None:
        self.problems, self.total = problems, total
        lines = [f"row {row}, field {name}: {issue.message}" for row, name, issue in problems]
        more = f"\n... and {total - len(problems)} more" if total > len(problems) else ""
        super().__init__(
            "applicants do not match the model's contract:\n" + "\n".join(lines) + more
        )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class Issue:
    """Why a value breaks a characteristic: a type name (pydantic's names for the same rules, so
    clients keep one vocabulary), the message, and the bound when one is broken."""

    type: str
    message: str
    context: dict[str, float] | None = None


def value_issue(  # noqa: PLR0911 - one return per rule
    value: Any,
    *,
    categories: tuple[str, ...] | None,
    nullable: bool,
    integer: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Issue | None:
    """Why one value breaks a characteristic, or None: THE rule (``categories`` None: numeric).
    A whole number written 35.0 is an integer, as JSON Schema says."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None if nullable else Issue("missing", "is missing")
    if categories is not None:
        if isinstance(value, str) and value in categories:
            return None
        return Issue("literal_error", f"{_shown(value)} is not one of the allowed categories")
    number_type = "int_type" if integer else "float_type"
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return Issue(number_type, f"{_shown(value)} is not a number")
    if isinstance(value, float | np.floating) and not math.isfinite(value):
        return Issue("finite_number", f"{value!r} is not a finite number")
    if integer and not isinstance(value, int | np.integer) and float(value) != int(value):
        return Issue("int_type", f"{value!r} is not a whole number")
    if minimum is not None and value < minimum:
        message = f"{_shown(value)} is below the minimum {_number(minimum)}"
        return Issue("greater_than_equal", message, {"ge": minimum})
    if maximum is not None and value > maximum:
        message = f"{_shown(value)} is above the maximum {_number(maximum)}"
        return Issue("less_than_equal", message, {"le": maximum})
    return None


def value_problem(value: Any, **rule: Any) -> str | None:
    """The message of ``value_issue`` (what the contract's ``Characteristic.problem`` says)."""
    issue = value_issue(value, **rule)
    return issue.message if issue else None


def _shown(value: Any, limit: int = 40) -> str:
    """A bad value as a message shows it: its repr, cut short (a caller's input is not echoed
    back at length)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def feature_issue(feature: Feature, value: Any) -> Issue | None:
    """``value_issue`` for one of the model's features."""
    return value_issue(
        value,
        categories=feature.categories if feature.categorical else None,
        nullable=feature.nullable,
        integer=feature.integer,
        minimum=feature.minimum,
        maximum=feature.maximum,
    )


@dataclass(frozen=True)
class Checked:
    """Applicants that passed the check: each one's slot and number per characteristic."""

    slots: np.ndarray  # rows x features, int64: the slot of each value
    numbers: np.ndarray  # rows x features, float64: numeric values (NaN: missing/categorical)

    def __len__(self) -> int:
        return len(self.slots)

    def take(self, rows: np.ndarray) -> Checked:
        return Checked(self.slots[rows], self.numbers[rows])


@dataclass(frozen=True)
class Inspection:
    """The check of every row: what passed, and the failures (the first few named)."""

    checked: Checked  # all rows (a failing row's slot is meaningless)
    ok: np.ndarray  # bool per row
    problems: list[tuple[int, str, Issue]]  # (row, field, issue), at most MAX_PROBLEMS
    failed: int  # failing values in all
    failed_fields: dict[str, np.ndarray]  # the failing rows of each field

    def reasons(self, columns: Mapping[str, Any], model: ScoringModel) -> dict[int, str]:
        """Every failing row's problems, "field: problem; ..." (a quarantine's reasons)."""
        by_name = {f.name: f for f in model.features}
        found: dict[int, list[str]] = {}
        for name, rows in self.failed_fields.items():
            for row in rows.tolist():
                issue = feature_issue(by_name[name], _raw(columns[name], row))
                found.setdefault(row, []).append(f"{name}: {issue.message if issue else 'invalid'}")
        return {row: "; ".join(parts) for row, parts in sorted(found.items())}


def _raw(values: Any, row: int) -> Any:
    value = values[row]
    if isinstance(value, pa.Scalar):
        return value.as_py()
    return value.item() if isinstance(value, np.generic) else value


def _categorical(feature: Feature, values: Any, lookup: dict[str, int]) -> tuple[np.ndarray, ...]:
    """Slot and validity of each value of a categorical column."""
    if isinstance(values, pa.ChunkedArray | pa.Array) and len(values) > SMALL:
        if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
            values = values.to_pylist()  # numbers in a text column: judged one by one below
        else:
            codes = pc.index_in(values, value_set=pa.array(feature.categories, pa.string()))
            missing = values.is_null().to_numpy(zero_copy_only=False)
            code = codes.fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")
            return _category_slots(feature, code, missing)
    items = values.tolist() if isinstance(values, np.ndarray | pa.Array) else list(values)
    if len(items) > SMALL:
        try:
            return _categorical(feature, pa.array(items, pa.string()), lookup)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass  # not all text: the per-value path names each bad one
    missing = np.fromiter(
        (v is None or (isinstance(v, float) and math.isnan(v)) for v in items), bool, len(items)
    )
    code = np.fromiter(
        (lookup.get(v, -1) if isinstance(v, str) else -1 for v in items), "int64", len(items)
    )
    return _category_slots(feature, code, missing)


def _category_slots(feature: Feature, code: np.ndarray, missing: np.ndarray) -> tuple:
    slots = np.where(code >= 0, code, np.where(missing, feature.missing_slot, feature.other_slot))
    ok = (code >= 0) | (missing & feature.nullable)
    return slots, np.full(len(code), np.nan), ok


def _as_float(value: int | float) -> float:
    """A JSON number as a float; an integer too large for one is infinitely large (refused)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


_PLAIN_NUMBERS = {int, float, type(None)}


def _as_list(values: Any) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _numbers_one_by_one(items: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Each value as a float if it is a number (not a bool), else NaN; and which were numbers
    (or missing, judged as missing later)."""
    kinds = [isinstance(v, int | float) and not isinstance(v, bool) for v in items]
    is_number = np.array(kinds, dtype=bool)
    numbers = np.array(
        [_as_float(v) if k else np.nan for v, k in zip(items, kinds, strict=True)], float
    )
    is_number |= np.array([v is None for v in items], dtype=bool)
    return numbers, is_number


def _numeric(feature: Feature, values: Any) -> tuple[np.ndarray, ...]:
    """Slot, number and validity of each value of a numeric column."""
    if isinstance(values, pa.ChunkedArray | pa.Array):
        values = values.to_numpy(zero_copy_only=False)
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        numbers, is_number = values.astype("float64"), True
    elif set(map(type, items := _as_list(values))) <= _PLAIN_NUMBERS:  # a JSON body's numbers
        try:
            numbers, is_number = np.array(items, dtype="float64"), True  # None -> NaN
        except OverflowError:  # an integer beyond a float: judged one by one below
            numbers, is_number = _numbers_one_by_one(items)
    else:  # objects of any kind: only int and float (not bool) are numbers
        numbers, is_number = _numbers_one_by_one(items)
    missing = np.isnan(numbers) & is_number
    with np.errstate(invalid="ignore"):
        ok = (
            is_number
            & np.isfinite(numbers)
            & (numbers >= feature.minimum)
            & (numbers <= feature.maximum)
        )
        if feature.integer:
            ok &= numbers == np.floor(numbers)
    ok |= missing & feature.nullable
    slots = np.searchsorted(feature.edges, numbers, side="right")
    slots[missing] = feature.missing_slot
    return slots, np.where(missing, np.nan, numbers), ok


def _few(model: ScoringModel, columns: Mapping[str, Any], rows: int) -> Inspection:
    """``inspect`` of a few applicants (a request): the rule and a bisection per value, no
    numpy call per column -- the same slots and numbers as the vectorised path."""
    lookup = model.layout["lookup"]
    slots, numbers = [], []
    ok = [True] * rows
    problems: list[tuple[int, str, Issue]] = []
    failed: dict[str, list[int]] = {}
    for feature in model.features:
        values = columns[feature.name]
        if isinstance(values, pa.ChunkedArray | pa.Array | np.ndarray):
            values = values.tolist()
        column_slots, column_numbers = [], []
        codes = lookup.get(feature.name)
        low, high, whole = feature.minimum, feature.maximum, feature.integer
        for row, value in enumerate(values):
            kind = type(value)
            # The common case first, decided without the full rule: a listed category, or a
            # plain number in range (whole if it must be).
            if codes is not None and kind is str and value in codes:
                column_slots.append(codes[value])
                column_numbers.append(math.nan)
                continue
            if (
                codes is None
                and (kind is int or kind is float)
                and low <= value <= high
                and (not whole or value == int(value))
            ):
                column_slots.append(bisect.bisect_right(feature.edges_list, value))
                column_numbers.append(float(value))
                continue
            issue = feature_issue(feature, value)
            if issue is not None:
                ok[row] = False
                failed.setdefault(feature.name, []).append(row)
                if len(problems) < MAX_PROBLEMS:
                    problems.append((row, feature.name, issue))
                column_slots.append(0)
                column_numbers.append(math.nan)
            elif value is None or (isinstance(value, float) and math.isnan(value)):
                column_slots.append(feature.missing_slot)
                column_numbers.append(math.nan)
            elif feature.categorical:
                column_slots.append(codes[value])
                column_numbers.append(math.nan)
            else:  # a number of another type (numpy's) that the rule accepts
                column_slots.append(bisect.bisect_right(feature.edges_list, float(value)))
                column_numbers.append(float(value))
        slots.append(column_slots)
        numbers.append(column_numbers)
    problems.sort(key=lambda p: p[0])
    return Inspection(
        Checked(np.array(slots, dtype="int64").T, np.array(numbers, dtype="float64").T),
        np.array(ok, dtype=bool),
        problems,
        sum(map(len, failed.values())),
        {name: np.array(rows_, dtype="int64") for name, rows_ in failed.items()},
    )


def inspect(model: ScoringModel, columns: Mapping[str, Any]) -> Inspection:
    """Check every value of every characteristic; name the first failures (row, field, why)."""
    absent = [f.name for f in model.features if f.name not in columns]
    if absent:
        missing = Issue("missing", "column is missing")
        raise ApplicantsError([(0, name, missing) for name in absent][:MAX_PROBLEMS], len(absent))
    rows = len(columns[model.features[0].name])
    if rows <= FEW and all(len(columns[f.name]) == rows for f in model.features):
        return _few(model, columns, rows)
    slots = np.empty((rows, len(model.features)), dtype="int64")
    numbers = np.empty((rows, len(model.features)), dtype="float64")
    ok = np.ones(rows, dtype=bool)
    problems: list[tuple[int, str, Issue]] = []
    failed_fields: dict[str, np.ndarray] = {}
    lookup = model.layout["lookup"]
    for j, feature in enumerate(model.features):
        values = columns[feature.name]
        if len(values) != rows:
            raise ApplicantsError(
                [(0, feature.name, f"has {len(values)} values for {rows} rows")], 1
            )
        if feature.categorical:
            slots[:, j], numbers[:, j], good = _categorical(feature, values, lookup[feature.name])
        else:
            slots[:, j], numbers[:, j], good = _numeric(feature, values)
        if not good.all():
            bad = np.flatnonzero(~good)
            failed_fields[feature.name] = bad
            ok[bad] = False
            for row in bad[: MAX_PROBLEMS - len(problems)].tolist():
                issue = feature_issue(feature, _raw(values, row)) or Issue(
                    "value_error", "is not valid"
                )
                problems.append((row, feature.name, issue))
    problems.sort(key=lambda p: p[0])  # stable: fields stay in contract order
    return Inspection(
        Checked(slots, numbers), ok, problems, sum(map(len, failed_fields.values())), failed_fields
    )


def check(model: ScoringModel, columns: Mapping[str, Any]) -> Checked:
    """The applicants checked; ApplicantsError naming the first failures if any row fails."""
    inspection = inspect(model, columns)
    if inspection.failed:
        raise ApplicantsError(inspection.problems, inspection.failed)
    return inspection.checked
