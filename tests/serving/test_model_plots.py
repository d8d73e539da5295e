"""Reporting plots of the served model's run: listed by /v1/model, served as PNG, keyed, 404s."""

from __future__ import annotations

from pathlib import Path

import mlflow

from quantumfinance.lineage import linked_runs
from quantumfinance_serving.model_store import REPORTING_PLOTS, ModelIdentity, run_plots
from tests.conftest import mlflow_tracking

PNG = b"\x89PNG\r\n\x1a\n"


def test_model_lists_its_reporting_plots_and_serves_each_as_png(api, keys):
    headers = {"x-api-key": keys.valid}
    info = api.get("/v1/model", headers=headers).json()
    assert info["plots"] == {
        "ROC curve": "/v1/model/plots/roc",
        "KS curve": "/v1/model/plots/ks",
        "Calibration": "/v1/model/plots/calibration",
        "Score distribution": "/v1/model/plots/score_distribution",
    }
    bodies = set()
    for path in info["plots"].values():
        response = api.get(path, headers=headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        assert response.content.startswith(PNG) and len(response.content) > 1000
        bodies.add(response.content)
    assert len(bodies) == 4  # four different pictures, not one served four times


def test_served_plot_is_the_model_runs_artifact(api, keys, trained_project, tmp_path):
    """The PNG of the reporting run linked to the model's run (docs/decisions/0011)."""
    run_id = api.get("/v1/model", headers={"x-api-key": keys.valid}).json()["run_id"]
    with trained_project.tracking():
        report = linked_runs(mlflow.MlflowClient(), run_id, "reporting")[0]
        local = mlflow.artifacts.download_artifacts(
            run_id=report.info.run_id, artifact_path="reporting/roc.png", dst_path=str(tmp_path)
        )
    served = api.get("/v1/model/plots/roc", headers={"x-api-key": keys.valid}).content
    assert served == Path(local).read_bytes()


def test_plots_need_the_key_and_unknown_names_are_404(api, keys):
    assert api.get("/v1/model/plots/roc").status_code == 401
    assert api.get("/v1/model/plots/roc", headers={"x-api-key": keys.revoked}).status_code == 401
    missing = api.get("/v1/model/plots/lift", headers={"x-api-key": keys.valid})
    assert missing.status_code == 404
    detail = missing.json()["detail"]
    assert "'lift'" in detail and "roc" in detail and "score_distribution" in detail, detail


def test_a_plot_the_run_lacks_is_absent_not_an_error(tmp_path):
    """A run with a ROC PNG, a broken 'KS' file and nothing else yields the ROC plot only."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with mlflow_tracking(uri):
        experiment = mlflow.create_experiment("plots", artifact_location=str(tmp_path / "art"))
        folder = tmp_path / "reporting"
        folder.mkdir()
        (folder / "roc.png").write_bytes(PNG + b"roc pixels")
        (folder / "ks.png").write_bytes(b"<html>not a png</html>")
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_artifacts(str(folder), artifact_path="reporting")
        identity = ModelIdentity("models:/m/1", "models:/m/1", "m", "1", None, run.info.run_id)
        assert run_plots(identity) == {"roc": PNG + b"roc pixels"}
        # a model loaded by path has no registry version: no plots, no tracking call
        local = ModelIdentity("/models/m", "/models/m", "m", None, None, run.info.run_id)
        assert run_plots(local) == {}
    assert {p.name for p in REPORTING_PLOTS} == {"roc", "ks", "calibration", "score_distribution"}
