"""Request bodies -> the scoring runtime's columns, with a bounded cost whatever the caller sends.

A body is decoded once (msgspec), its shape checked (an object; a batch's ``applicants`` a list
of at most QF_MAX_BATCH objects, counted before anything else is done), then each
characteristic becomes one column and the runtime's vectorised contract check judges them all.
No validation object is built per applicant. Errors name the row and the field; at most
MAX_ERRORS are listed (plus one item with the total), field names are cut to NAME_LIMIT
characters and values are never echoed at length.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from quantumfinance.scoring import Checked, ScoringModel, inspect

MAX_ERRORS = 20
NAME_LIMIT = 64  # characters of an unknown field's name shown in an error


class BodyError(Exception):
    """The body cannot be scored: ``errors`` are FastAPI-style items (loc, msg, type[, ctx])."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


class _NotJSONNumber:
    """NaN / Infinity literals (not JSON): kept as a value the contract check refuses by field."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _printable(text: str) -> str:
    """A string with lone surrogates (hostile JSON) escaped, so that an error serialises."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _name(key: Any) -> str:
    text = _printable(str(key))
    return text if len(text) <= NAME_LIMIT else text[: NAME_LIMIT - 3] + "..."


def _error(loc: Sequence[Any], msg: str, kind: str, ctx: dict | None = None) -> dict[str, Any]:
    item = {"loc": ["body", *loc], "msg": _printable(msg), "type": kind}
    if ctx:
        item["ctx"] = ctx
    return item


def decode(body: bytes) -> Any:
    """JSON -> Python values. A body msgspec refuses (NaN, 1e999, a lone surrogate) is read by
    Python's reader, so the error can name the field it is in; nesting deeper than either
    reader allows is refused as a whole."""
    try:
        return msgspec.json.decode(body)
    except RecursionError:
        raise BodyError([_error([], "JSON nested too deeply", "json_depth")]) from None
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    try:
        return json.loads(body, parse_constant=_NotJSONNumber)
    except RecursionError:
        raise BodyError([_error([], "JSON nested too deeply", "json_depth")]) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BodyError([_error([], f"Invalid JSON: {str(exc)[:200]}", "json_invalid")]) from None


@dataclass(frozen=True)
class Applicants:
    """Decoded applicants that passed the model's contract: the runtime's checked arrays, and
    the plain rows (the audit hashes each applicant's inputs)."""

    checked: Checked
    rows: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.rows)


def _bounded(errors: list[dict[str, Any]], total: int) -> list[dict[str, Any]]:
    if total > len(errors):
        errors = [
            *errors,
            _error([], f"{total} problems in all; the first {len(errors)} are listed", "too_many"),
        ]
    return errors


def _shape_errors(rows: list[Any], allowed: frozenset[str], prefix: tuple) -> tuple[list, int]:
    """Non-object rows and unknown fields: the first MAX_ERRORS, and how many in all."""
    errors: list[dict[str, Any]] = []
    total = 0
    for i, row in enumerate(rows):
        loc = (*prefix, i) if prefix else ()
        if not isinstance(row, dict):
            total += 1
            if len(errors) < MAX_ERRORS:
                errors.append(_error(loc, "Input should be an object", "dict_type"))
            continue
        extra = len(row.keys() - allowed)  # counted in C; the first few named, in body order
        if extra:
            total += extra
            unknown = (key for key in row if key not in allowed)
            for key in itertools.islice(unknown, max(MAX_ERRORS - len(errors), 0)):
                errors.append(_error((*loc, _name(key)), "Extra inputs are not permitted",
                                     "extra_forbidden"))  # fmt: skip
    return errors, total


def applicants(model: ScoringModel, data: Any, batch: bool, max_batch: int) -> Applicants:
    """A decoded body's applicants checked against ``model``'s contract; BodyError otherwise."""
    if batch:
        if not isinstance(data, dict) or not isinstance(data.get("applicants"), list):
            raise BodyError([_error(["applicants"], "Field required: a list", "missing")])
        extra = [k for k in data if k != "applicants"]
        if extra:
            raise BodyError([_error([_name(extra[0])], "Extra inputs are not permitted",
                                    "extra_forbidden")])  # fmt: skip
        rows = data["applicants"]
        if not 1 <= len(rows) <= max_batch:
            problem = "is empty" if not rows else f"has {len(rows)} applicants"
            raise BodyError([_error(["applicants"],
                                    f"batch {problem}; send 1 to {max_batch} (QF_MAX_BATCH)",
                                    "batch_size")])  # fmt: skip
        prefix: tuple = ("applicants",)
    else:
        rows, prefix = [data], ()
    names = model.feature_names
    errors, total = _shape_errors(rows, frozenset(names), prefix)
    if any(not isinstance(row, dict) for row in rows):
        raise BodyError(_bounded(errors, total))
    columns = {name: list(map(dict.get, rows, itertools.repeat(name))) for name in names}
    inspection = inspect(model, columns)
    found = [
        _error((*prefix, row, name) if batch else (name,), issue.message, issue.type, issue.context)
        for row, name, issue in inspection.problems[:MAX_ERRORS]
    ]
    # Both kinds shown when both occur: unknown fields take at most half of the listed errors.
    shown = min(len(errors), max(MAX_ERRORS - len(found), MAX_ERRORS // 2))
    errors = errors[:shown] + found[: MAX_ERRORS - shown]
    if errors:
        raise BodyError(_bounded(errors, total + inspection.failed))
    return Applicants(inspection.checked, rows)
