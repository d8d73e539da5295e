"""Nodes of the ingest pipeline: read applicants from the real table, the generator or a file.

Ingest stores what it reads as it is; judging the rows is data_engineering's job. It only fails
on what makes a table unreadable (unknown source, missing or empty file, not CSV/parquet).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from quantumfinance.applicant_schema import load_german_credit
from quantumfinance.synthetic import generate_applicants

logger = logging.getLogger(__name__)

SOURCES = ("german_credit", "synthetic", "file")
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
PARQUET_MAGIC = b"PAR1"


def read_applicant_file(path: str | Path) -> pd.DataFrame:
    """Read a user's CSV (.csv, .csv.gz) or parquet file, failing clearly on anything else."""
    path = Path(path)
    name = path.name.lower()
    if not path.is_file():
        raise FileNotFoundError(f"ingest.path: applicant file {path} does not exist")
    if path.stat().st_size == 0:
        raise ValueError(f"ingest.path: applicant file {path} is empty (0 bytes)")
    if name.endswith(PARQUET_SUFFIXES):
        with path.open("rb") as handle:
            if handle.read(4) != PARQUET_MAGIC:
                raise ValueError(f"ingest.path: {path} is not a parquet file (no PAR1 header)")
        return pd.read_parquet(path)
    if name.endswith(CSV_SUFFIXES):
        try:
            return pd.read_csv(path)
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ValueError(f"ingest.path: {path} is not a readable CSV file: {exc}") from exc
    raise ValueError(
        f"ingest.path: {path} is neither CSV ({', '.join(CSV_SUFFIXES)}) "
        f"nor parquet ({', '.join(PARQUET_SUFFIXES)})"
    )


def load_raw_applicants(ingest: dict[str, Any]) -> pd.DataFrame:
    """Load applicants from `ingest.source`: german_credit, synthetic (n_rows, seed) or file (path)."""
    source = ingest.get("source")
    if source == "german_credit":
        raw = load_german_credit()
    elif source == "synthetic":
        raw = generate_applicants(int(ingest["n_rows"]), seed=int(ingest["seed"]))
    elif source == "file":
        if not ingest.get("path"):
            raise ValueError("ingest.path is required when ingest.source is 'file'")
        raw = read_applicant_file(ingest["path"])
    else:
        raise ValueError(f"ingest.source must be one of {', '.join(SOURCES)}; got {source!r}")
    logger.info("Ingested %d applicants from %s", len(raw), source)
    return raw
