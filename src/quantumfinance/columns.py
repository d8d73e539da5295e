"""Applicants at the boundary of the scoring runtime: a table's columns as arrays, converted once.

The runtime takes one array per characteristic (numpy, or Arrow for text). A pandas frame (the
logged model's ``predict``, reports, a Dask partition) is converted here, column by column, with
missing values as NaN or None; text stays Arrow where pandas holds it as Arrow.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa


def frame_columns(frame: pd.DataFrame, names: Iterable[str]) -> dict[str, Any]:
    """The named columns of a frame: numbers as float64 (missing: NaN), anything else as
    objects (missing: None), so the runtime judges every value as the contract says."""
    columns: dict[str, Any] = {}
    for name in names:
        if name not in frame:
            continue  # the runtime names the missing column
        values = frame[name]
        if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
            values.dtype
        ):
            columns[name] = values.to_numpy(dtype="float64", na_value=np.nan)
        elif isinstance(values.dtype, pd.StringDtype) or values.dtype == object:
            array = pa.array(values.array, from_pandas=True) if values.dtype != object else None
            columns[name] = array if array is not None else values.to_numpy(dtype=object)
        else:
            columns[name] = values.to_numpy(dtype=object)
    return columns
