"""The ingest pipeline end to end on an in-memory catalog."""

from __future__ import annotations

import pytest
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from quantumfinance.applicant_schema import ALL_COLUMNS
from quantumfinance.pipelines.ingest import create_pipeline


def _run(ingest_params: dict) -> dict:
    catalog = DataCatalog()
    catalog["params:ingest"] = ingest_params
    return SequentialRunner().run(create_pipeline(), catalog)


def test_ingest_pipeline_produces_raw_applicants():
    outputs = _run({"source": "synthetic", "n_rows": 500, "seed": 11})
    raw = outputs["raw_applicants"].load()
    assert list(raw.columns) == list(ALL_COLUMNS)
    assert len(raw) == 500


def test_ingest_pipeline_fails_on_unknown_source():
    with pytest.raises(ValueError, match="ingest.source must be one of"):
        _run({"source": "mainframe", "n_rows": 1, "seed": 1})
