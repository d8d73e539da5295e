"""The data_engineering pipeline end to end on an in-memory catalog."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset

from quantumfinance.pipelines.data_engineering import create_pipeline
from quantumfinance.synthetic import generate_applicants
from tests.support.portfolios import contract, raw_applicants

GERMAN = contract("base")
ALL_COLUMNS = GERMAN.columns
CATEGORICAL_COLUMNS = [c.name for c in GERMAN.characteristics if c.is_categorical]

OUTPUTS = ("quarantined_applicants", "applicants_train", "applicants_test")


def _catalog(raw: pd.DataFrame, max_fraction: float, tmp_path) -> DataCatalog:
    catalog = DataCatalog({name: MemoryDataset() for name in OUTPUTS})
    # The runner releases consumed MemoryDatasets; the report is a file, as in the real catalog.
    catalog["data_quality_report"] = JSONDataset(filepath=str(tmp_path / "data_quality.json"))
    catalog["raw_applicants"] = raw
    catalog["applicant_contract"] = GERMAN
    catalog["params:data_engineering.max_quarantine_fraction"] = max_fraction
    catalog["params:data_engineering.test_size"] = 0.2
    catalog["params:data_engineering.seed"] = 42
    return catalog


def test_pipeline_splits_valid_rows_and_quarantines_bad_ones(tmp_path):
    raw = generate_applicants(GERMAN, 2_000, seed=5, reference=raw_applicants())
    raw.loc[[10, 20], "age"] = 200
    catalog = _catalog(raw, max_fraction=0.05, tmp_path=tmp_path)
    SequentialRunner().run(create_pipeline(), catalog)
    train, test = catalog["applicants_train"].load(), catalog["applicants_test"].load()
    quarantined = catalog["quarantined_applicants"].load()
    assert len(train) + len(test) + len(quarantined) == len(raw)
    assert quarantined["quarantine_reasons"].tolist() == ["age: in_range(18, 100)"] * 2
    assert len(test) == round(0.2 * (len(raw) - 2))
    for frame in (train, test):
        assert list(frame.columns) == list(ALL_COLUMNS)
        assert all(
            str(frame[c].dtype) == ("str" if c in CATEGORICAL_COLUMNS else "int64")
            for c in ALL_COLUMNS
        )
    assert catalog["data_quality_report"].load()["rows_quarantined"] == 2


def test_pipeline_fails_over_the_limit_but_keeps_the_quarantine(tmp_path):
    raw = generate_applicants(GERMAN, 500, seed=5, reference=raw_applicants())
    raw.loc[:99, "purpose"] = "yacht"
    catalog = _catalog(raw, max_fraction=0.05, tmp_path=tmp_path)
    with pytest.raises(ValueError, match="100 of 500 applicants .* purpose: unknown_category"):
        SequentialRunner().run(create_pipeline(), catalog)
    assert len(catalog["quarantined_applicants"].load()) == 100  # saved before the gate failed
    assert catalog["data_quality_report"].load()["failed_checks"] == {
        "purpose: unknown_category": 100
    }
    assert not catalog["applicants_train"].exists()
