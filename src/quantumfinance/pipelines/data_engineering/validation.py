"""The pandera schema of raw applicants, generated from the applicant contract, and the helpers
that turn its failures into row reasons.

Every check has a short name so that a quarantine reason reads ``<column>: <check>``, e.g.
``age: in_range(18, 100)``, ``purpose: unknown_category``, ``default: missing``,
``applicant_id: duplicate``, ``credit_amount: not_an_integer``, ``balance: not_a_number``,
``default: unreadable_target``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from quantumfinance.contract import ApplicantContract, Characteristic, as_text

# pandera's built-in check names -> the words a reviewer of the quarantine reads
READABLE_CHECKS = {"not_nullable": "missing", "field_uniqueness": "duplicate"}


def _as_number(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series, errors="coerce")


def _number_check(whole: bool) -> pa.Check:
    # Missing values pass here: nullability is pandera's own `not_nullable` check.
    if whole:
        return pa.Check(
            lambda s: (_as_number(s).mod(1).eq(0) | s.isna()).fillna(False).astype(bool),
            name="not_an_integer",
        )
    return pa.Check(
        lambda s: (np.isfinite(_as_number(s).astype("float64")) | s.isna()).astype(bool),
        name="not_a_number",
    )


def _format_bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _range_check(lo: float, hi: float) -> pa.Check:
    # Values that are not (finite) numbers pass here: the type check already reports them.
    def within(s: pd.Series) -> pd.Series:
        number = _as_number(s).astype("float64")
        return (number.between(lo, hi) | ~np.isfinite(number)).astype(bool)

    return pa.Check(
        within,
        name=f"in_range({_format_bound(lo)}, {_format_bound(hi)})",
    )


def _characteristic_column(c: Characteristic) -> pa.Column:
    if c.is_categorical:
        allowed = pa.Check(
            lambda s, cats=c.categories: (as_text(s).isin(cats) | s.isna()).astype(bool),
            name="unknown_category",
        )
        return pa.Column(checks=[allowed], nullable=c.nullable)
    checks = [_number_check(whole=c.type == "integer"), _range_check(c.minimum, c.maximum)]
    return pa.Column(checks=checks, nullable=c.nullable)


def build_applicant_schema(contract: ApplicantContract) -> pa.DataFrameSchema:
    """The raw applicants' schema: id unique and present, target readable, each characteristic
    of its declared type, categories and bounds (missing only where declared nullable)."""
    target = contract.target
    readable = pa.Check(
        lambda s: (target.flag(s).notna() | s.isna()).astype(bool), name="unreadable_target"
    )
    columns = {
        contract.id.name: pa.Column(unique=True, report_duplicates="exclude_first"),
        target.name: pa.Column(checks=[readable]),
    }
    columns.update({c.name: _characteristic_column(c) for c in contract.characteristics})
    # dtype=None everywhere: raw files hold text or floats where ints belong; the checks judge
    # each value, and typing happens after validation, on the valid rows only.
    return pa.DataFrameSchema(columns, strict=False, name="raw_applicants")


def check_table_structure(raw: pd.DataFrame, contract: ApplicantContract) -> list[str]:
    """Raise on table-level problems (no rows, missing or untypable columns); return extra columns.
    A column that contradicts its declaration names the contract file and field."""
    missing = [c for c in contract.columns if c not in raw.columns]
    if missing:
        raise ValueError(f"raw_applicants is missing required column(s): {', '.join(missing)}")
    if raw.empty:
        raise ValueError("raw_applicants has no rows: nothing to validate")
    for c in contract.characteristics:
        values = raw[c.name].dropna()
        if not c.is_categorical and len(values) and _as_number(values).isna().all():
            raise contract.error(
                f"{contract.field_of(c.name)}.type",
                f"column '{c.name}' cannot be read as {c.type}s (type {raw[c.name].dtype}, "
                f"e.g. {str(values.iloc[0])!r})",
            )
        if c.is_categorical and pd.api.types.is_numeric_dtype(values) and len(values):
            raise contract.error(
                f"{contract.field_of(c.name)}.type",
                f"column '{c.name}' has numeric dtype {raw[c.name].dtype}; expected text "
                "categories (ingest reads categorical columns as text: re-run ingest)",
            )
    return [c for c in raw.columns if c not in contract.columns]


def row_failures(
    raw: pd.DataFrame, contract: ApplicantContract, schema: pa.DataFrameSchema | None = None
) -> pd.DataFrame:
    """Every failed check per row as columns (row, reason); table-level failures raise.

    ``schema`` defaults to the raw applicants' schema; batch scoring passes a narrower one."""
    try:
        (schema or build_applicant_schema(contract)).validate(raw, lazy=True)
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


def _typed(series: pd.Series, c: Characteristic) -> pd.Series:
    if c.is_categorical:
        return series.astype("str")  # pandas 3: missing stays missing
    number = _as_number(series)
    if c.type == "integer" and not c.nullable:
        return number.astype("int64")
    return number.astype("float64")  # floats, and integers that may be missing


def to_feature_types(applicants: pd.DataFrame, contract: ApplicantContract) -> pd.DataFrame:
    """The model's inputs only, typed as ``to_contract_types`` types them (no id or target)."""
    return pd.DataFrame(
        {c.name: _typed(applicants[c.name], c) for c in contract.features}, index=applicants.index
    )


def to_contract_types(applicants: pd.DataFrame, contract: ApplicantContract) -> pd.DataFrame:
    """The contract's columns in order: categories as str, integers as int64 (float64 when
    nullable), floats as float64, the target as 0/1 int64."""
    typed = applicants.loc[:, list(contract.columns)].copy()
    for c in contract.characteristics:
        typed[c.name] = _typed(typed[c.name], c)
    typed[contract.target.name] = contract.target.flag(typed[contract.target.name]).astype("int64")
    ids = typed[contract.id.name]
    if pd.api.types.is_numeric_dtype(ids) and (_as_number(ids).mod(1) == 0).all():
        typed[contract.id.name] = ids.astype("int64")
    else:
        typed[contract.id.name] = ids.astype("str")
    return typed
