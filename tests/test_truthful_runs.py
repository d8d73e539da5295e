"""A run that fails in a dataset's load or save -- outside the node's own code, where Kedro calls
no ``on_node_error`` -- ends FAILED naming the node and the dataset, not just "nodes"."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from quantumfinance.lineage import FAILED_STEP_TAG
from tests.conftest import close_stale_mlflow_runs, make_project_copy, mlflow_tracking


def _failed_run(root: Path, uri: str, pipeline: str) -> mlflow.entities.Run:
    bootstrap_project(root)
    with mlflow_tracking(uri):
        with pytest.raises(Exception):  # noqa: B017, PT011 - which error is the dataset's own
            with KedroSession.create(project_path=root, env="local") as session:
                session.run(pipeline_names=[pipeline])
        close_stale_mlflow_runs()
        runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return runs[0]


def test_a_failed_save_names_the_node_and_the_dataset(tmp_path: Path) -> None:
    uri = make_project_copy(tmp_path)
    blocker = tmp_path / "data" / "not-a-folder"
    blocker.write_text("a file where the dataset expects a folder")
    catalog = {
        "raw_applicants": {
            "type": "pandas.ParquetDataset",
            "filepath": str(blocker / "applicants.parquet"),
        }
    }
    (tmp_path / "conf" / "local" / "catalog.yml").write_text(yaml.safe_dump(catalog))
    run = _failed_run(tmp_path, uri, "ingest")
    assert run.info.status == "FAILED"
    assert run.data.tags[FAILED_STEP_TAG] == "load_raw_applicants (save raw_applicants)"


def test_a_failed_load_names_the_node_and_the_dataset(tmp_path: Path) -> None:
    uri = make_project_copy(tmp_path)  # no ingest ran: the raw table is not there
    run = _failed_run(tmp_path, uri, "data_engineering")
    assert run.info.status == "FAILED"
    step = run.data.tags[FAILED_STEP_TAG]
    assert step.endswith("(load raw_applicants)"), step
