"""The pandera schema of raw applicants and the helpers that turn its failures into row reasons.

Every check has a short name so that a quarantine reason reads ``<column>: <check>``, e.g.
``age: in_range(18, 100)``, ``purpose: unknown_category``, ``default: missing``,
``applicant_id: duplicate``, ``credit_amount: not_an_integer``.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa

from quantumfinance.applicant_schema import (
    ALL_COLUMNS,
    CATEGORICAL_COLUMNS,
    CHARACTERISTICS,
    ID_COLUMN,
    TARGET_COLUMN,
)

INTEGER_COLUMNS = tuple(c for c in ALL_COLUMNS if c not in CATEGORICAL_COLUMNS)
# pandera's built-in check names -> the words a reviewer of the quarantine reads
READABLE_CHECKS = {"not_nullable": "missing", "field_uniqueness": "duplicate"}


def _as_number(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def _integer_check() -> pa.Check:
    return pa.Check(
        lambda s: _as_number(s).mod(1).eq(0).fillna(False).astype(bool),
        name="not_an_integer",
    )


def _range_check(lo: int, hi: int) -> pa.Check:
    # Values that are not numbers pass here: `not_an_integer` already reports them.
    return pa.Check(
        lambda s: (_as_number(s).between(lo, hi) | _as_number(s).isna()).astype(bool),
        name=f"in_range({lo}, {hi})",
    )


def build_applicant_schema() -> pa.DataFrameSchema:
    """The raw applicants' schema, built from applicant_schema.CHARACTERISTICS."""
    columns = {
        ID_COLUMN: pa.Column(
            checks=[_integer_check()], unique=True, report_duplicates="exclude_first"
        ),
        TARGET_COLUMN: pa.Column(checks=[_integer_check(), _range_check(0, 1)]),
    }
    for c in CHARACTERISTICS:
        if c.is_categorical:
            allowed = pa.Check(lambda s, cats=c.categories: s.isin(cats), name="unknown_category")
            columns[c.name] = pa.Column(checks=[allowed])
        else:
            columns[c.name] = pa.Column(
                checks=[_integer_check(), _range_check(c.minimum, c.maximum)]
            )
    # dtype=None everywhere: raw files hold text or floats where ints belong; the checks judge
    # each value, and typing happens after validation, on the valid rows only.
    return pa.DataFrameSchema(columns, strict=False, name="raw_applicants")


def check_table_structure(raw: pd.DataFrame) -> list[str]:
    """Raise on table-level problems (no rows, missing or untypable columns); return extra columns."""
    missing = [c for c in ALL_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"raw_applicants is missing required column(s): {', '.join(missing)}")
    if raw.empty:
        raise ValueError("raw_applicants has no rows: nothing to validate")
    for column in INTEGER_COLUMNS:
        values = raw[column].dropna()
        if len(values) and _as_number(values).isna().all():
            raise ValueError(
                f"column '{column}' cannot be read as integers (dtype {raw[column].dtype}, "
                f"e.g. {values.iloc[0]!r})"
            )
    for column in CATEGORICAL_COLUMNS:
        if pd.api.types.is_numeric_dtype(raw[column]) and raw[column].notna().any():
            raise ValueError(
                f"column '{column}' has numeric dtype {raw[column].dtype}; "
                "expected text categories (see docs/data_dictionary.md)"
            )
    return [c for c in raw.columns if c not in ALL_COLUMNS]


def row_failures(raw: pd.DataFrame) -> pd.DataFrame:
    """Every failed check per row as columns (row, reason); table-level failures raise."""
    try:
        build_applicant_schema().validate(raw, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return pd.DataFrame({"row": pd.Series(dtype="int64"), "reason": pd.Series(dtype="str")})
    table_level = cases[cases["index"].isna()]
    if len(table_level):
        raise ValueError(
            "raw_applicants failed table-level checks: "
            + "; ".join(
                f"{r.column}: {r.check} ({r.failure_case})" for r in table_level.itertuples()
            )
        )
    check = cases["check"].astype(str).replace(READABLE_CHECKS)
    return pd.DataFrame(
        {
            "row": cases["index"].astype("int64"),
            "reason": cases["column"].astype(str) + ": " + check,
        }
    ).drop_duplicates()


def to_contract_types(applicants: pd.DataFrame) -> pd.DataFrame:
    """The contract's columns in order: categoricals as str, numerics and default as int64."""
    typed = applicants.loc[:, list(ALL_COLUMNS)].copy()
    for column in ALL_COLUMNS:
        if column in CATEGORICAL_COLUMNS:
            typed[column] = typed[column].astype("str")
        else:
            typed[column] = _as_number(typed[column]).astype("int64")
    return typed
