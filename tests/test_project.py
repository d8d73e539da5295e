"""The Kedro project as users drive it: the pipeline registry and a real run in a project copy."""

from __future__ import annotations

import json
import os
import subprocess

import pandas as pd

from quantumfinance.applicant_schema import ALL_COLUMNS
from tests.conftest import REPO_ROOT, make_project_copy, run_pipelines


def test_registry_lists_the_data_pipelines_and_alias():
    result = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "kedro"), "registry", "list"],
        cwd=REPO_ROOT,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    listed = {line.removeprefix("- ").strip() for line in result.stdout.splitlines()}
    assert {"ingest", "data_engineering", "de"} <= listed


def test_kedro_run_writes_raw_validated_train_and_test(tmp_path):
    root = tmp_path / "project"
    uri = make_project_copy(root)
    runtime = {"ingest": {"source": "synthetic", "n_rows": 3000, "seed": 9}}
    run_pipelines(root, uri, ["ingest", "data_engineering"], runtime)

    data = root / "data"
    raw = pd.read_parquet(data / "01_raw" / "applicants.parquet")
    validated = pd.read_parquet(data / "02_intermediate" / "validated_applicants.parquet")
    train = pd.read_parquet(data / "05_model_input" / "applicants_train.parquet")
    test = pd.read_parquet(data / "05_model_input" / "applicants_test.parquet")
    quality = json.loads((data / "08_reporting" / "data_quality.json").read_text())

    assert len(raw) == 3000  # the runtime override reached the ingest node
    assert len(validated) == quality["rows_valid"] == 3000 - quality["rows_quarantined"]
    assert len(train) + len(test) == len(validated)
    assert len(test) == round(0.25 * len(validated))  # parameters_data_engineering.yml
    assert list(train.columns) == list(test.columns) == list(ALL_COLUMNS)
    assert train["age"].dtype == "int64" and train["purpose"].dtype == "str"
    assert (data / "02_intermediate" / "quarantined_applicants.parquet").exists()
