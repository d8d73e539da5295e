"""Checked applicants as one array per characteristic: what the inference nodes pass each other.

A DataFrame costs tens of microseconds per column access and hundreds per construction; on a
one-applicant request that overhead was most of the model's time. The nodes work on arrays, so
they hand each other arrays, and the only frame built per call is the model's output.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd


class Columns:
    """A table held as ``name -> 1-D array`` (numpy, or a pandas extension array for the text
    columns of a large batch), all of ``rows`` length. Reads like a DataFrame where the nodes
    need it: ``columns[name]``, ``len(columns)`` (rows), iteration over the names."""

    __slots__ = ("_arrays", "rows")

    def __init__(self, arrays: Mapping[str, Any], rows: int) -> None:
        for name, values in arrays.items():
            if len(values) != rows:
                raise ValueError(f"column {name!r} has {len(values)} values for {rows} rows")
        self._arrays = dict(arrays)
        self.rows = rows

    def __getitem__(self, name: str) -> Any:
        return self._arrays[name]

    def __contains__(self, name: object) -> bool:
        return name in self._arrays

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return self.rows

    def __repr__(self) -> str:
        return f"Columns({self.rows} rows: {', '.join(self._arrays)})"

    @property
    def columns(self) -> list[str]:
        return list(self._arrays)

    def select(self, names: Any) -> Columns:
        """These columns only, in this order."""
        return Columns({name: self._arrays[name] for name in names}, self.rows)

    def slice(self, start: int, stop: int) -> Columns:
        """Rows ``start:stop`` (views, no copy)."""
        part = {name: values[start:stop] for name, values in self._arrays.items()}
        return Columns(part, len(range(*slice(start, stop).indices(self.rows))))

    def to_frame(self) -> pd.DataFrame:
        """The same table as a DataFrame (for an estimator that wants one)."""
        return pd.DataFrame(self._arrays, columns=self.columns)
