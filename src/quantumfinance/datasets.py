"""Catalog dataset types of the project's own.

``ScoredParquetDataset``: the inference pipeline's output (reason lists as Arrow list columns)
saved as parquet that plain ``pandas.read_parquet`` reads back. pandas records a nested Arrow
column's dtype in the file's pandas metadata as a string it cannot parse again ("data type
'list<item: struct<...>>[pyarrow]' not understood"); as Python lists the same column is stored
as the same parquet list<struct>, with metadata any reader understands.
"""

from __future__ import annotations

import ast
import re
from typing import Any

import pandas as pd
import pyarrow as pa
from kedro.io.core import Version
from kedro_datasets.pandas import CSVDataset, ParquetDataset


def plain_nested_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its nested Arrow columns (lists, structs) as Python objects."""
    nested = [
        name
        for name, dtype in frame.dtypes.items()
        if isinstance(dtype, pd.ArrowDtype) and pa.types.is_nested(dtype.pyarrow_dtype)
    ]
    if not nested:
        return frame
    return frame.assign(**{name: frame[name].to_list() for name in nested})


class ScoredParquetDataset(ParquetDataset):
    """``pandas.ParquetDataset`` for scored applicants (see the module's doc)."""

    # Its own signature, so that the catalog's ``to_config`` (lineage, data versions) sees
    # ``filepath`` and ``credentials`` as it does for ParquetDataset, not ``args``/``kwargs``.
    def __init__(  # noqa: PLR0913 - ParquetDataset's arguments, passed on
        self,
        *,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        save_args: dict[str, Any] | None = None,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            filepath=filepath,
            load_args=load_args,
            save_args=save_args,
            version=version,
            credentials=credentials,
            fs_args=fs_args,
            metadata=metadata,
        )

    def save(self, data: pd.DataFrame) -> None:
        super().save(plain_nested_columns(data))


# An extension array's str(), e.g. "<ArrowStringArray>\n['a', 'b']\nLength: 2, dtype: str", as a
# category bin is written when a table is built with str() on optbinning's bins.
ARRAY_REPR = re.compile(r"^<\w+Array>\s*(\[.*\])\s*Length: \d+, dtype: \S+$", re.DOTALL)


def plain_cell(value: Any) -> Any:
    """One report cell as a reader's text: an array (or an array's repr) as "a, b"."""
    if isinstance(value, str):
        match = ARRAY_REPR.match(value)
        if not match:
            return value
        try:
            value = ast.literal_eval(match.group(1))
        except (ValueError, SyntaxError):
            return value
    if isinstance(value, bytes) or not hasattr(value, "__iter__"):
        return value
    return ", ".join(str(v) for v in value)


def plain_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every array-like cell (optbinning's category bins) as "a, b" text, so a
    report table never shows a Python or Arrow repr."""
    texts = [
        name
        for name in frame.columns
        if pd.api.types.is_object_dtype(frame[name]) or pd.api.types.is_string_dtype(frame[name])
    ]
    return frame.assign(**{name: frame[name].map(plain_cell) for name in texts})


class ReportTableDataset(CSVDataset):
    """``pandas.CSVDataset`` for report tables: array cells written as plain text."""

    def save(self, data: pd.DataFrame) -> None:
        super().save(plain_cells(data))
