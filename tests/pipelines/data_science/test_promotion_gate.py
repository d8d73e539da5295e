"""The promotion gate on evidence, on a real (SQLite) MLflow registry and synthetic applicants
with a planted risk signal: a clearly better candidate is promoted; a gain inside the noise, an
identical re-run and a badly calibrated candidate are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from quantumfinance import registry
from quantumfinance.contract import load_contract
from quantumfinance.synthetic import generate_applicants
from tests.conftest import REPO_ROOT

RULES = yaml.safe_load((REPO_ROOT / "conf/base/parameters_data_science.yml").read_text())[
    "promotion"
]
MIN_AUC = 0.55  # the weak synthetic model's AUC is ~0.63: the floor is not what is tested here
GOOD_RUN = {"cv_calibration_slope": 1.0, "cv_citl_points": 0.1, "score_psi": 0.02}


@pytest.fixture(scope="module")
def planted() -> dict:
    """Synthetic German-contract applicants (planted signal on every model input); PDs of a
    weak model (three characteristics) and a strong one (all), both scored on held-out rows."""
    contract = load_contract(REPO_ROOT / "conf/base/applicant_contract.yml")
    data = generate_applicants(contract, 3000, seed=7)
    y = contract.target.flag(data[contract.target.name]).to_numpy(dtype="int64")
    fit, held = slice(0, 1500), slice(1500, None)

    def pd_of(names: list[str]) -> np.ndarray:
        categorical = [n for n in names if contract.by_name[n].is_categorical]
        numeric = [n for n in names if n not in categorical]
        encode = ColumnTransformer(
            [
                ("c", OneHotEncoder(handle_unknown="ignore"), categorical),
                ("n", StandardScaler(), numeric),
            ]
        )
        model = make_pipeline(encode, LogisticRegression(max_iter=1000))
        model.fit(data[names].iloc[fit], y[fit])
        return model.predict_proba(data[names].iloc[held])[:, 1]

    features = list(contract.feature_names)
    return {"observed": y[held], "weak": pd_of(features[:3]), "strong": pd_of(features)}


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> MlflowClient:
    """One SQLite store per module (creating one costs seconds)."""
    root = tmp_path_factory.mktemp("gate")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_experiment("gate", artifact_location=str(root / "artifacts"))
    return client


@pytest.fixture
def store(client, request) -> tuple[MlflowClient, str]:
    """A fresh registered model per test, in the module's store."""
    name = f"credit-score-{request.node.name}"[:100]
    client.create_registered_model(name)
    return client, name


def _scored(pd_: np.ndarray) -> pd.DataFrame:
    """An inference output as the gate sees it (pd and the score derived from it)."""
    return pd.DataFrame({"pd": pd_, "score": np.round(600 - 29 * np.log(pd_ / (1 - pd_)))})


def _trained(client: MlflowClient, metrics: dict[str, float]) -> registry.Candidate:
    """A finished run with its metrics and what it offers the registry (not yet registered)."""
    run = client.create_run(client.get_experiment_by_name("gate").experiment_id)
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id)
    return registry.Candidate(run.info.run_id, f"{run.info.artifact_uri}/credit_model", "a" * 64)


def _gate(store, observed, candidate, champion=None, metrics=GOOD_RUN):
    client, name = store
    evidence = registry.GateEvidence(
        observed, _scored(candidate), None if champion is None else _scored(champion)
    )
    return registry.register(
        client, name, _trained(client, metrics), MIN_AUC, RULES["tolerance"], evidence, RULES
    )


def test_clearly_better_candidate_is_promoted_with_its_evidence(store, planted):
    first = _gate(store, planted["observed"], planted["weak"])
    assert first.promoted and "no champion yet" in first.reason
    better = _gate(store, planted["observed"], planted["strong"], champion=planted["weak"])
    assert better.promoted, better.reason
    assert better.evidence["auc_difference_lo"] > 0
    client, name = store
    assert str(client.get_model_version_by_alias(name, "champion").version) == better.version
    tags = client.get_model_version(name, better.version).tags
    assert tags["promotion"] == "promoted"
    assert float(tags["gate.auc_difference_lo"]) == pytest.approx(
        better.evidence["auc_difference_lo"]
    )
    assert tags["gate.model_digest"] == better.evidence["model_digest"]


def test_gain_inside_the_noise_is_refused(store, planted):
    champion = _gate(store, planted["observed"], planted["weak"])
    noise = np.random.default_rng(1).normal(0, 0.002, len(planted["weak"]))
    nudged = np.clip(planted["weak"] + noise, 1e-4, 1 - 1e-4)
    decision = _gate(store, planted["observed"], nudged, champion=planted["weak"])
    assert not decision.promoted and not decision.identical
    assert "inside the noise" in decision.reason
    assert decision.evidence["auc_difference_lo"] <= 0 <= decision.evidence["auc_difference_hi"]
    client, name = store
    assert str(client.get_model_version_by_alias(name, "champion").version) == champion.version
    assert str(client.get_model_version_by_alias(name, "challenger").version) == decision.version


def test_identical_rerun_is_refused_and_leaves_no_new_version(store, planted):
    champion = _gate(store, planted["observed"], planted["strong"])
    decision = _gate(store, planted["observed"], planted["strong"], champion=planted["strong"])
    assert decision.identical and not decision.promoted and decision.version is None
    assert "identical to champion" in decision.reason
    client, name = store
    versions = {str(v.version) for v in client.search_model_versions(f"name='{name}'")}
    assert versions == {champion.version}
    # no version number was used up: none was created, then deleted
    assert str(_gate(store, planted["observed"], planted["weak"]).version) == "2"


def test_badly_calibrated_candidate_is_refused_even_if_better(store, planted):
    _gate(store, planted["observed"], planted["weak"])
    squeezed = {**GOOD_RUN, "cv_calibration_slope": 1.6}
    decision = _gate(
        store, planted["observed"], planted["strong"], champion=planted["weak"], metrics=squeezed
    )
    assert not decision.promoted and "calibration slope 1.6" in decision.reason
