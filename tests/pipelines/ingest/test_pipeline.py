"""The ingest pipeline end to end: on a small catalog, and in a Kedro session whose contract is
broken (the run fails with the file, field and problem, and writes nothing)."""

from __future__ import annotations

import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import ParquetDataset

from quantumfinance.contract import ContractError
from quantumfinance.pipelines.ingest import create_pipeline
from tests.conftest import make_project_copy
from tests.support.portfolios import contract, ingest_params


def _catalog(ingest: dict, tmp_path, env: str = "base") -> DataCatalog:
    catalog = DataCatalog()
    catalog["params:ingest"] = ingest
    catalog["params:data_engineering.max_quarantine_fraction"] = 0.05
    catalog["applicant_contract"] = contract(env)
    catalog["raw_applicants"] = ParquetDataset(filepath=str(tmp_path / "raw.parquet"))
    return catalog


def test_ingest_pipeline_produces_raw_applicants(tmp_path):
    params = {**ingest_params(), "source": "synthetic", "n_rows": 500, "seed": 11}
    catalog = _catalog(params, tmp_path)
    SequentialRunner().run(create_pipeline(), catalog)
    raw = catalog["raw_applicants"].load()
    assert list(raw.columns) == list(contract().columns)
    assert len(raw) == 500


def test_ingest_pipeline_fails_on_unknown_source(tmp_path):
    catalog = _catalog({"source": "mainframe", "n_rows": 1, "seed": 1}, tmp_path)
    with pytest.raises(ValueError, match="ingest.source must be one of"):
        SequentialRunner().run(create_pipeline(), catalog)
    assert not catalog["raw_applicants"].exists()


def test_data_that_contradict_the_contract_write_nothing(tmp_path):
    params = {**ingest_params("cards"), "read": {"sep": ";", "encoding": "latin-1"}}  # no decimal
    catalog = _catalog(params, tmp_path, env="cards")
    with pytest.raises(ContractError, match=r"characteristics\[balance\]\.type"):
        SequentialRunner().run(create_pipeline(), catalog)
    assert not catalog["raw_applicants"].exists()


def test_a_broken_contract_stops_the_run_before_any_node(tmp_path):
    root = tmp_path / "project"
    make_project_copy(root, "cards")
    path = root / "conf" / "cards" / "applicant_contract.yml"
    data = yaml.safe_load(path.read_text())
    data["characteristics"][0]["type"] = "money"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    bootstrap_project(root)
    with KedroSession.create(project_path=root, env="cards") as session:
        with pytest.raises(ContractError) as failure:
            session.run(pipeline_names=["ingest"])
    assert f"{path}: characteristics[balance].type" in str(failure.value)
    assert not any(p.is_file() for p in (root / "data").rglob("*"))
