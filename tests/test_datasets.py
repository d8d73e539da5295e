"""ScoredParquetDataset: the model's output (reason lists as Arrow list columns) saved as parquet
that plain pandas reads back with the same reasons."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from kedro.io import DataCatalog

from quantumfinance import lineage
from quantumfinance.datasets import ScoredParquetDataset
from quantumfinance.scoring.score import REASON_ITEM

REASONS = [
    [{"code": "DURATION", "text": "Loan duration 48: longer loans score lower", "points": 12.5}],
    [],
    [
        {"code": "AGE", "text": "Age 19: older applicants score higher", "points": 3.0},
        {"code": "PURPOSE", "text": "Purpose car: scores lower than radio/tv", "points": 1.5},
    ],
]


def _scored() -> pd.DataFrame:
    column = pd.arrays.ArrowExtensionArray(pa.array(REASONS, pa.list_(REASON_ITEM)))
    return pd.DataFrame({"score": [512, 640, 598], "reason_codes": column})


def test_plain_pandas_cannot_read_a_nested_arrow_column_back(tmp_path):
    """Why the dataset exists: if pandas learns to, the dataset can go."""
    _scored().to_parquet(tmp_path / "raw.parquet")
    with pytest.raises(TypeError, match="not understood"):
        pd.read_parquet(tmp_path / "raw.parquet")


def test_scored_dataset_saves_what_plain_pandas_reads_back(tmp_path):
    path = tmp_path / "scored.parquet"
    ScoredParquetDataset(filepath=str(path)).save(_scored())
    back = pd.read_parquet(path)
    assert back["score"].tolist() == [512, 640, 598]
    assert [[dict(r) for r in row] for row in back["reason_codes"]] == REASONS
    loaded = ScoredParquetDataset(filepath=str(path)).load()
    assert [[dict(r) for r in row] for row in loaded["reason_codes"]] == REASONS


def test_the_catalog_reports_where_a_scored_dataset_lives(tmp_path):
    """Lineage and data versions find the file through ``to_config``, as for ParquetDataset."""
    path = str(tmp_path / "scored.parquet")
    catalog = DataCatalog.from_config(
        {"scored": {"type": "quantumfinance.datasets.ScoredParquetDataset", "filepath": path}}
    )
    assert lineage.dataset_location(catalog, "scored") == (path, {})
