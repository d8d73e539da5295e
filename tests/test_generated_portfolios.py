"""Generated portfolios end to end (issue 23, point 6): tables unlike the shipped ones -- random
column names (spaces, unicode), text ids, leading-zero codes, string or integer target labels,
missing values, base rates from 2 % to 50 %, a numeric column of whole numbers and one of
decimals -- each drafted by ``python -m quantumfinance.contract draft``, then run through ingest
-> data_engineering -> data_science -> reporting and scored by the API.

Three seeds run in ``make test`` (a 3 % book, a 50 % book with integer labels, a 20 % one);
``pytest -m exhaustive tests/test_generated_portfolios.py`` runs four more with random base
rates."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from quantumfinance.contract import load_contract
from quantumfinance.model_dataset import ScoringModelDataset
from quantumfinance.registry import project_config
from quantumfinance_serving.keys import new_key
from tests.conftest import REPO_ROOT, make_project_copy, mlflow_tracking, run_pipelines
from tests.serving.conftest import Keys, make_settings, running_app
from tests.support.generated import run_module

WORDS = ["Montant", "Durée", "Région", "Ålder", "收入", "Score interne", "Nº", "Straße", "état"]
PIPELINES = ["ingest", "data_engineering", "data_science", "reporting"]


@dataclass(frozen=True)
class Generated:
    seed: int
    base_rate: float
    integer_labels: bool
    rows: int


FAST = [
    Generated(seed=11, base_rate=0.03, integer_labels=False, rows=2500),
    Generated(seed=12, base_rate=0.50, integer_labels=True, rows=700),
    Generated(seed=13, base_rate=0.20, integer_labels=False, rows=900),
]
SLOW = [
    Generated(seed=s, base_rate=float(np.random.default_rng(s).uniform(0.02, 0.5)),
              integer_labels=bool(s % 2), rows=2500)
    for s in range(21, 25)
]  # fmt: skip


@pytest.fixture(scope="module")
def keys() -> Keys:
    (valid, entry), (admin, admin_entry) = new_key("loan-desk"), new_key("ops")
    return Keys(valid, admin, new_key("former")[0], f"{entry},{admin_entry}")


def _names(rng: np.random.Generator, count: int) -> list[str]:
    """Distinct column names with spaces and non-ASCII letters, different for every seed."""
    names: list[str] = []
    while len(names) < count:
        name = f"{rng.choice(WORDS)} {rng.choice(WORDS).lower()} {int(rng.integers(1, 99))}"
        if name not in names:
            names.append(name)
    return names


def generate(spec: Generated) -> tuple[pd.DataFrame, dict]:
    """The table and what the test must know of it (its column names, labels, codes)."""
    rng = np.random.default_rng(spec.seed)
    n = spec.rows
    id_, code, text, whole, decimal, target = _names(rng, 6)
    codes = [f"{i:02d}" for i in range(1, int(rng.integers(4, 8)))]
    region = rng.choice(codes, n)
    months = rng.integers(6, 84, n)
    amount = np.round(rng.gamma(2.0, 1800.0, n), 2)
    kind = rng.choice(["salarié", "indépendant", "retraité"], n).astype(object)
    kind[rng.random(n) < 0.06] = None  # missing values in a text column
    amount_missing = np.where(rng.random(n) < 0.08, np.nan, amount)  # and in a decimal one
    latent = (
        1.1 * (months - months.mean()) / months.std()
        + 1.3 * (region == codes[-1])
        - 0.6 * (kind == "retraité")
        + 0.5 * np.nan_to_num((amount_missing - amount.mean()) / amount.std())
        + rng.logistic(0, 0.6, n)
    )
    bad = latent >= np.quantile(latent, 1 - spec.base_rate)
    labels = (2, 1) if spec.integer_labels else ("en défaut", "sain")
    table = pd.DataFrame(
        {
            id_: [f"ID-{spec.seed}-{i:05x}" for i in rng.permutation(n)],
            code: region,
            text: kind,
            whole: months,
            decimal: amount_missing,
            target: np.where(bad, labels[0], labels[1]),
        }
    )
    return table, {"target": target, "bad": labels[0], "code": code, "codes": codes}


def _train(root: Path, spec: Generated) -> tuple[str, dict, Path]:
    """Draft the env from the generated file with the command, then run the four pipelines."""
    env = f"gen{spec.seed}"
    make_project_copy(root)
    table, facts = generate(spec)
    data_file = root / "examples" / f"generated_{spec.seed}.csv"
    table.to_csv(data_file, index=False)
    done = run_module(
        root, "quantumfinance.contract", "draft", str(data_file), "--target", facts["target"],
        "--bad", str(facts["bad"]), "--env", env,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    # The drafted env's store, made absolute: this process's working directory is the repo.
    uri = f"sqlite:///{root / f'mlflow-{env}.db'}"
    mlflow_yml = root / "conf" / env / "mlflow.yml"
    config = yaml.safe_load(mlflow_yml.read_text())
    config["server"]["mlflow_tracking_uri"] = uri
    experiment = config["tracking"]["experiment"]
    experiment.setdefault("create_experiment_kwargs", {})["artifact_location"] = str(
        root / "mlartifacts"
    )
    mlflow_yml.write_text(yaml.safe_dump(config))
    run_pipelines(root, uri, PIPELINES, env=env)
    return env, facts, root / "data" / env


def _records(frame: pd.DataFrame) -> list[dict]:
    """Rows as the JSON a client sends (missing values as null)."""
    return json.loads(frame.to_json(orient="records", force_ascii=False))


def _check_portfolio(root: Path, spec: Generated, keys: Keys) -> None:
    env, facts, data = _train(root, spec)
    contract = load_contract(root / "conf" / env / "applicant_contract.yml")
    code = next(c for c in contract.characteristics if c.source == facts["code"])
    assert code.is_categorical and list(code.categories) == facts["codes"]  # "01" stays "01"

    model = ScoringModelDataset(str(data / "06_models" / "scoring_model.json")).load()
    policy = model.policy
    train = pd.read_parquet(data / "05_model_input" / "applicants_train.parquet")
    rate = float(train[contract.target.name].mean())
    assert rate == pytest.approx(spec.base_rate, abs=0.02)
    assert f"({rate:.2%})" in policy.derived_from
    scored = pd.read_parquet(data / "07_model_output" / "scored_applicants.parquet")
    # Decisions follow this portfolio's own policy: each score's band by its floors.
    for score_, band, decision in scored[["score", "band", "decision"]].itertuples(index=False):
        k = next(i for i, floor in enumerate(policy.min_scores) if score_ >= floor)
        assert (band, decision) == (policy.bands[k], policy.decisions[k])
    if spec.base_rate <= 0.05:  # German floors approve a 13 % PD; this book's policy declines it
        assert policy.min_scores[0] > 600
        assert (scored.loc[scored["pd"] >= 0.13, "decision"] == "decline").all()

    card = (data / "08_reporting" / "model_card.md").read_text()
    german = project_config(REPO_ROOT)["parameters"]["reporting"]["model_card"]
    assert not [s for s in [*german["data_description"], *german["limitations"]] if s in card]
    for leak in ('{"', "<Arrow", "dtype:"):
        assert leak not in card

    # The API serves the registered version and scores as the pipeline did.
    with mlflow_tracking(f"sqlite:///{root / f'mlflow-{env}.db'}"):
        client = mlflow.MlflowClient()
        version = max(int(v.version) for v in client.search_model_versions("name='credit-score'"))
        local = Path(
            mlflow.artifacts.download_artifacts(
                f"models:/credit-score/{version}", dst_path=str(root / "served")
            )
        )
    test = pd.read_parquet(data / "05_model_input" / "applicants_test.parquet")
    settings = make_settings(keys, root / "audit.jsonl", model_uri=str(local))
    with running_app(settings) as api:
        headers = {"x-api-key": keys.valid}
        info = api.get("/v1/model", headers=headers).json()
        assert info["chosen_model"] == model.kind
        assert info["policy"]["derived_from"] == policy.derived_from
        applicants = _records(test[list(contract.feature_names)].head(50))
        answer = api.post("/v1/score/batch", json={"applicants": applicants}, headers=headers)
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        expected = scored.head(50)
        assert [r["score"] for r in results] == expected["score"].tolist()
        assert [r["decision"] for r in results] == expected["decision"].tolist()
        np.testing.assert_allclose([r["pd"] for r in results], expected["pd"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("spec", FAST, ids=lambda s: f"seed{s.seed}-rate{s.base_rate:g}")
def test_a_generated_portfolio_goes_from_its_file_to_the_api(spec, tmp_path, keys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths of the drafted env are the project's, as in use
    _check_portfolio(tmp_path, spec, keys)


@pytest.mark.exhaustive
@pytest.mark.parametrize("spec", SLOW, ids=lambda s: f"seed{s.seed}-rate{s.base_rate:.2f}")
def test_more_generated_portfolios(spec, tmp_path, keys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _check_portfolio(tmp_path, spec, keys)
