"""Nodes of the ingest pipeline: read a portfolio's applicants and map them to its contract.

Ingest renames the source columns to the contract's names (and numbers the applicants when the
contract says `id.generate`), and otherwise stores the values as it read them: judging rows is
data_engineering's job. It fails, before anything is written, on what makes the table unusable
for the contract: an unreadable file, a column the contract names that is not there, a target
or a category set that does not match the data. Each message names the file, the field and the
problem.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from quantumfinance.contract import ApplicantContract, Characteristic, as_text, code_text
from quantumfinance.pipelines.data_engineering.validation import row_failures
from quantumfinance.synthetic import generate_applicants

logger = logging.getLogger(__name__)

SOURCES = ("file", "synthetic")
CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
PARQUET_MAGIC = b"PAR1"
# pandas.read_csv options a portfolio may set under ingest.read
READ_OPTIONS = ("sep", "delimiter", "decimal", "thousands", "encoding", "na_values", "quotechar")
SHOWN_VALUES = 5
# data_engineering's check -> the contract field that decides it (quarantine-share errors)
CHECK_FIELDS = {
    "in_range": ".minimum/maximum",
    "missing": ".nullable",
    "not_an_integer": ".type",
    "not_a_number": ".type",
    "unknown_category": ".categories",
}


def _decode_error_line(path: Path, encoding: str) -> int | None:
    """1-based number of the first line that does not decode with ``encoding``."""
    import gzip  # noqa: PLC0415 - only on the error path

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError:
                return number
    return None


def read_applicant_file(
    path: str | Path, read: dict[str, Any] | None = None, text_columns: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Read a CSV (.csv, .csv.gz) or parquet file with the portfolio's reader options; the
    ``text_columns`` (the contract's codes and id) as text, as written in the file."""
    path = Path(path)
    read = dict(read or {})
    unknown = sorted(set(read) - set(READ_OPTIONS))
    if unknown:
        raise ValueError(f"ingest.read: unknown option(s) {unknown}; allowed: {list(READ_OPTIONS)}")
    name = path.name.lower()
    if not path.is_file():
        raise FileNotFoundError(f"ingest.path: applicant file {path} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"ingest.path: applicant file {path} is empty (0 bytes)")
    if name.endswith(PARQUET_SUFFIXES):
        with path.open("rb") as handle:
            if handle.read(4) != PARQUET_MAGIC:
                raise ValueError(f"ingest.path: {path} is not a parquet file (no PAR1 header)")
        table = pd.read_parquet(path)
        return table.assign(**{c: as_text(table[c]) for c in text_columns if c in table})
    if name.endswith(CSV_SUFFIXES):
        encoding = read.setdefault("encoding", "utf-8")
        try:
            return pd.read_csv(path, dtype=dict.fromkeys(text_columns, "str"), **read)
        except UnicodeDecodeError as exc:
            line = _decode_error_line(path, encoding)
            where = f"line {line}" if line else "a line"
            raise ValueError(
                f"ingest.path: {path}: {where} is not valid {encoding} ({exc.reason}); "
                "set ingest.read.encoding to the file's encoding"
            ) from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ValueError(f"ingest.path: {path} is not a readable CSV file: {exc}") from exc
    raise ValueError(
        f"ingest.path: {path} is neither CSV ({', '.join(CSV_SUFFIXES)}) "
        f"nor parquet ({', '.join(PARQUET_SUFFIXES)})"
    )


def to_contract_columns(
    source: pd.DataFrame, contract: ApplicantContract, origin: str
) -> pd.DataFrame:
    """Rename source columns to contract names (others kept, after them); number the applicants
    when the contract generates ids. A column the contract names but the file lacks is an error."""
    missing = [s for s in contract.source_names if s not in source.columns]
    if missing:
        fields = [contract.field_of(contract.source_names[s]) for s in missing]
        raise contract.error(
            ", ".join(f"{f}.source" for f in fields),
            f"column(s) {missing} not found in {origin} (its columns: {list(source.columns)})",
        )
    renamed = source.rename(columns=contract.source_names)
    if contract.id.generate:
        if contract.id.name in renamed.columns:
            raise contract.error("id", f"{origin} already has a column {contract.id.name!r}")
        renamed.insert(0, contract.id.name, pd.RangeIndex(1, len(renamed) + 1))
    known = [c for c in contract.columns if c in renamed.columns]
    return renamed[known + [c for c in renamed.columns if c not in known]]


def _examples(values: pd.Series) -> str:
    counts = values.value_counts()
    shown = ", ".join(f"{v!r} ({n} rows)" for v, n in counts.head(SHOWN_VALUES).items())
    return shown + (f" and {len(counts) - SHOWN_VALUES} more" if len(counts) > SHOWN_VALUES else "")


def _looks_numeric(values: pd.Series) -> bool:
    return len(values) > 0 and pd.to_numeric(values, errors="coerce").notna().all()


def _category_hint(values: pd.Series, characteristic: Characteristic) -> str:
    """Why numeric-looking codes miss their categories: they are compared as written."""
    if _looks_numeric(values) and _looks_numeric(pd.Series(characteristic.categories)):
        return (
            "; codes are compared as text, as written in the file (leading zeros kept: "
            "'01' is not '1'): list them as the file writes them, or declare a number type"
        )
    return ""


def _column_mismatch(values: pd.Series, characteristic: Characteristic) -> tuple[pd.Series, str]:
    """Values of one column that break its declared type or category set, and what they break."""
    present = values.dropna()
    if characteristic.is_categorical:
        text = as_text(present)
        bad = text[~text.isin(characteristic.categories)]
        what = f"not among the declared categories {list(characteristic.categories)}"
        return bad, what + _category_hint(bad, characteristic)
    numbers = pd.to_numeric(present, errors="coerce")
    bad = present[numbers.isna()]
    if len(bad) or characteristic.type != "integer":
        return bad, f"not numbers (declared type {characteristic.type}; check ingest.read.decimal)"
    return present[numbers.mod(1) != 0], "not whole numbers (declared type integer; is it a float?)"


def _check_target(raw: pd.DataFrame, contract: ApplicantContract, origin: str) -> None:
    """Every target value is bad or good (or within the contract's named tolerance)."""
    target = raw[contract.target.name]
    if len(raw) and target.notna().sum() == 0:
        raise contract.error("target", f"column {contract.target.name!r} in {origin} is empty")
    unmapped = target[target.notna() & contract.target.flag(target).isna()]
    tolerance = contract.target.max_unmapped_fraction or 0.0
    if len(unmapped) and len(unmapped) / max(len(raw), 1) > tolerance:
        raise contract.error(
            "target.bad/target.good",
            f"{len(unmapped)} of {len(raw)} values of column "
            f"{contract.target.source or contract.target.name!r} in {origin} are neither bad "
            f"{list(map(code_text, contract.target.bad))} nor good "
            f"{list(map(code_text, contract.target.good))}: {_examples(unmapped.astype(str))} "
            f"(target.max_unmapped_fraction allows {tolerance:g})",
        )


def _check_columns(
    raw: pd.DataFrame, contract: ApplicantContract, origin: str, max_mismatch_fraction: float
) -> None:
    """No column breaks its declared type or categories in more than the tolerated share."""
    rows = max(len(raw), 1)
    for characteristic in contract.characteristics:
        bad, what = _column_mismatch(raw[characteristic.name], characteristic)
        if len(bad) / rows > max_mismatch_fraction:
            field = contract.field_of(characteristic.name)
            field += ".categories" if characteristic.is_categorical else ".type"
            raise contract.error(
                field,
                f"{len(bad)} of {len(raw)} values of column {characteristic.source_column!r} in "
                f"{origin} are {what}: {_examples(bad.astype(str))}",
            )


def _check_quarantine_share(
    raw: pd.DataFrame, contract: ApplicantContract, origin: str, limit: float
) -> None:
    """The rows data_engineering would quarantine (ranges, missing values, duplicate ids) stay
    within its limit, per column: above it, the contract rather than the rows is wrong."""
    failures = row_failures(raw.reset_index(drop=True), contract)
    if failures.empty:
        return
    per_check = failures["reason"].value_counts()
    name, count = per_check.index[0], int(per_check.iloc[0])
    if count / max(len(raw), 1) > limit:
        column, check = name.split(": ", 1)
        declared = contract.by_name.get(column)
        source = declared.source_column if declared else column
        raise contract.error(
            contract.field_of(column) + CHECK_FIELDS.get(check.split("(")[0], ""),
            f"{count} of {len(raw)} rows of {origin} fail `{check}` in column {source!r}, above "
            f"data_engineering.max_quarantine_fraction={limit:g} (all checks: "
            + ", ".join(f"{k} ({v} rows)" for k, v in per_check.head(SHOWN_VALUES).items())
            + ")",
        )


def check_against_contract(
    raw: pd.DataFrame,
    contract: ApplicantContract,
    origin: str,
    max_mismatch_fraction: float,
    max_quarantine_fraction: float | None = None,
) -> None:
    """Fail when the data and the contract disagree: any unmapped target value (unless the
    contract tolerates a share), a column whose type or categories do not fit more than
    ``max_mismatch_fraction`` of its values, a check that would quarantine more rows than
    data_engineering accepts. A few bad rows pass on to the quarantine."""
    _check_target(raw, contract, origin)
    _check_columns(raw, contract, origin, max_mismatch_fraction)
    if max_quarantine_fraction is not None:
        _check_quarantine_share(raw, contract, origin, max_quarantine_fraction)


def load_raw_applicants(
    ingest: dict[str, Any],
    applicant_contract: ApplicantContract,
    max_quarantine_fraction: float | None = None,
) -> pd.DataFrame:
    """Applicants from `ingest.source`: a file (path, read options) or the synthetic generator,
    checked against the contract (and data_engineering's quarantine limit) before any write."""
    source = ingest.get("source")
    path = ingest.get("path")
    if source not in SOURCES:
        raise ValueError(f"ingest.source must be one of {', '.join(SOURCES)}; got {source!r}")
    if source == "file" and not path:
        raise ValueError("ingest.path is required when ingest.source is 'file'")
    reference = None
    if path:
        read = read_applicant_file(path, ingest.get("read"), applicant_contract.text_sources)
        reference = to_contract_columns(read, applicant_contract, origin=str(path))
        check_against_contract(
            reference,
            applicant_contract,
            str(path),
            ingest.get("max_mismatch_fraction", 0.05),
            max_quarantine_fraction,
        )
    if source == "synthetic":
        # The file, when given, is the reference whose marginals and default rate are drawn from.
        raw = generate_applicants(
            applicant_contract, int(ingest["n_rows"]), seed=int(ingest["seed"]), reference=reference
        )
    else:
        raw = reference
    logger.info("Ingested %d applicants from %s", len(raw), path if source == "file" else source)
    return raw
