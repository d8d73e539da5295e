"""The scoring runtime is numpy and pyarrow: its modules import no Kedro, MLflow, optbinning or
scikit-learn, and loading the registered model and scoring a batch imports neither of the
training libraries (a fresh interpreter each, so nothing else imported them first)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import quantumfinance.scoring

FORBIDDEN = ("kedro", "kedro_mlflow", "mlflow", "optbinning", "sklearn", "scipy", "treelite")
RUNTIME = Path(quantumfinance.scoring.__file__).parent


def _imported(code: str) -> set[str]:
    """Top-level packages a fresh interpreter has imported after running ``code``."""
    script = (
        code
        + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_runtime_modules_import_none_of_the_frameworks():
    for path in sorted(RUNTIME.glob("*.py")):
        tree = ast.parse(path.read_text())
        names = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not names & set(FORBIDDEN), (path.name, names & set(FORBIDDEN))
        assert "pandas" not in names, path.name  # no per-call pandas on the scoring path


def test_loading_a_logged_model_and_scoring_imports_no_framework(trained_project):
    """What the API and each Dask worker do: read the registered model's artifact, score."""
    with trained_project.tracking():
        import mlflow  # noqa: PLC0415

        local = mlflow.artifacts.download_artifacts(trained_project.model_uri)
    example = json.dumps(trained_project.contract.example_applicant())
    imported = _imported(
        "from quantumfinance.scoring import check, score\n"
        "from quantumfinance.scoring.stored import load_scoring_model\n"
        "from quantumfinance.scoring.output import output_rows\n"
        f"model = load_scoring_model({str(local)!r})\n"
        f"example = {example}\n"
        "columns = {n: [example[n]] * 100 for n in model.feature_names}\n"
        "rows = output_rows(model, score(model, check(model, columns)))\n"
        "assert len(rows) == 100 and rows[0]['decision']\n"
    )
    assert not imported & set(FORBIDDEN), imported & set(FORBIDDEN)


def test_the_registered_pyfunc_scores_without_the_training_libraries(trained_project):
    """``mlflow.pyfunc.load_model(...).predict`` (what `mlflow models serve` runs) needs MLflow
    and Kedro's runner, but no optbinning, scikit-learn or scipy: the model is arrays."""
    frame = trained_project.applicants_test.head(50)[list(trained_project.contract.feature_names)]
    path = Path(trained_project.root) / "applicants.parquet"
    frame.to_parquet(path)
    imported = _imported(
        "import mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri({trained_project.tracking_uri!r})\n"
        f"model = mlflow.pyfunc.load_model({trained_project.model_uri!r})\n"
        f"assert len(model.predict(pd.read_parquet({str(path)!r}))) == 50\n"
    )
    assert "kedro" in imported  # it did load the pipeline model
    assert not imported & {"optbinning", "sklearn", "treelite"}, imported
