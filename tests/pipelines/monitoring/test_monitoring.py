"""monitoring: a book drawn from the training data is stable on every figure; a planted shift
in one characteristic flags that characteristic and fails the run with fail_on: shift; planted
outcomes give back the default rates they were planted with."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quantumfinance.pipelines.batch_scoring.nodes import resolve_scoring_model, score_book
from quantumfinance.pipelines.monitoring import nodes
from quantumfinance.registry import project_config
from tests.conftest import close_stale_mlflow_runs, run_pipelines

# The default engine (a LocalCluster in the process), kept small: one worker, threads.
LOCAL = {"local_cluster": {"n_workers": 1, "processes": False, "dashboard_address": ":0"}}


def _params(project, **overrides) -> dict:
    """parameters_monitoring.yml as the project reads it, with overrides."""
    monitoring = dict(project_config(project.root)["parameters"]["monitoring"])
    monitoring.update(**overrides)
    return monitoring


def _score(project, book: pd.DataFrame, folder) -> tuple[dict, dict]:
    book.to_parquet(folder / "book.parquet")
    with project.tracking():
        model = resolve_scoring_model(project.model_uri)
        storage = {"portfolio": str(folder / "book.parquet"), "output": str(folder / "scored")}
        manifest = score_book(model, {"partitions": 3}, storage, LOCAL)
    return model, manifest


@pytest.fixture(scope="module")
def training_book(trained_project, tmp_path_factory):
    """80% of the training applicants, scored; the development reference of the model."""
    folder = tmp_path_factory.mktemp("monitor_stable")
    train = pd.read_parquet(trained_project.data / "05_model_input" / "applicants_train.parquet")
    model, manifest = _score(trained_project, train.sample(frac=0.8, random_state=1), folder)
    with trained_project.tracking():
        reference = nodes.load_development_reference(model)
    return model, manifest, reference, folder, train


def test_population_from_training_data_is_stable(training_book, trained_project):
    model, manifest, reference, _, _ = training_book
    figures = nodes.stability_figures(reference, manifest, _params(trained_project))
    assert set(figures["figure"]) >= set(trained_project.contract.feature_names) | {"score"}
    assert (figures["status"] == "stable").all(), figures
    assert reference["rows"] == len(
        pd.read_parquet(trained_project.data / "05_model_input" / "applicants_train.parquet")
    )


def test_planted_outcomes_give_back_their_default_rates(training_book, trained_project):
    model, manifest, _, folder, _ = training_book
    id_name = trained_project.contract.id.name
    scored = pd.read_parquet(folder / "scored" / "scored")
    rng = np.random.default_rng(7)
    planted = {band: rate for band, rate in zip(sorted(scored["band"].unique()),
                                                (0.02, 0.05, 0.1, 0.2, 0.4), strict=False)}  # fmt: skip
    outcomes = []
    for band, group in scored.groupby("band"):
        defaults = round(planted[band] * len(group))
        flags = np.r_[np.ones(defaults), np.zeros(len(group) - defaults)]
        # No as-of date column: the back-test needs one only when `as_of` filters on it.
        outcomes.append(
            pd.DataFrame({id_name: group[id_name], "defaulted": rng.permutation(flags)})
        )
    pd.concat(outcomes).to_csv(folder / "outcomes.csv", index=False)
    params = _params(trained_project)
    params["outcomes"] = {**params["outcomes"], "path": str(folder / "outcomes.csv")}
    with trained_project.tracking():
        table, figures = nodes.back_test(model, manifest, params, {}, LOCAL)
    table = table.set_index("segment")
    for band, group in scored.groupby("band"):
        expected = round(planted[band] * len(group)) / len(group)
        assert table.loc[band, "observed_default_rate"] == pytest.approx(expected)
        assert table.loc[band, "predicted_default_rate"] == pytest.approx(group["pd"].mean())
    assert table.loc["all", "applicants"] == len(scored)
    auc = figures.set_index("figure").loc["auc", "value"]
    assert 0.5 < auc <= 1.0  # planted rates rise from the best band to the worst


def test_planted_shift_is_flagged_and_fails_the_run(training_book, trained_project, tmp_path):
    model, _, reference, _, train = training_book
    contract = trained_project.contract
    # The characteristic with the most bins; every applicant moved to its maximum.
    shifted_name = max(
        contract.numeric_features, key=lambda n: len(reference["characteristics"][n])
    )
    shifted = train.assign(**{shifted_name: contract.by_name[shifted_name].maximum})
    _, manifest = _score(trained_project, shifted, tmp_path)
    figures = nodes.stability_figures(reference, manifest, _params(trained_project))
    status = figures.set_index("figure")["status"]
    assert status[shifted_name] == "shift"
    others = [n for n in contract.feature_names if n != shifted_name]
    assert (status[others] == "stable").all(), figures
    # The pipeline through Kedro: own MLflow run, outputs written, then the alert.
    params = {"monitoring": {"fail_on": "shift"}, "dask_engine": LOCAL,
              "monitoring_storage": {"scored_book": str(tmp_path / "scored")}}  # fmt: skip
    with pytest.raises(Exception, match="monitoring status shift") as raised:
        run_pipelines(trained_project.root, trained_project.tracking_uri, ["monitoring"], params)
    close_stale_mlflow_runs()
    assert shifted_name in str(raised.value)
    summary = json.loads(
        (trained_project.data / "08_reporting" / "monitoring_summary.json").read_text()
    )
    assert summary["flagged"][shifted_name] == "shift"
    assert summary["model"]["version"] == model["version"]
