"""Root fixtures shared by every test group.

``trained_project`` (session scope) trains the credit model ONCE on the German credit data (the
default portfolio) in a temporary copy of the project with its own SQLite MLflow store, and hands
the serving, frontend and stack tests a registered ``models:/credit-score@champion``.
``cards_project`` does the same for the second shipped portfolio (``--env cards``): the same code,
another contract.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from mlflow.tracking import _tracking_service
from mlflow.tracking._model_registry import utils as registry_utils

from quantumfinance.contract import ApplicantContract, load_contract
from quantumfinance.lineage import MODEL_RUN_ENV
from quantumfinance.pipeline_registry import register_pipelines
from quantumfinance.registry import MODEL_NAME

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# The venv's bin on PATH, as `make run` does: MLflow exports a logged model's requirements with
# the project's `uv`; without it, it infers them instead (~2 min per trained project here).
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_LAYERS = (
    "01_raw",
    "02_intermediate",
    "03_primary",
    "04_feature",
    "05_model_input",
    "06_models",
    "07_model_output",
    "08_reporting",
)


@dataclass
class TrainedProject:
    """A project copy where ingest -> de -> ds -> reporting ran once; its MLflow store."""

    root: Path
    tracking_uri: str
    model_uri: str
    applicants_test: pd.DataFrame
    scored_test: pd.DataFrame
    scored_train: pd.DataFrame
    metrics: dict
    env: str = "local"
    contract: ApplicantContract | None = None
    data: Path | None = None  # the env's data root (data/, or data/cards for the cards env)
    run_log: Path | None = None  # the chain's log as conf/logging.yml formats it, in a file

    @contextlib.contextmanager
    def tracking(self) -> Iterator[None]:
        """Point the global MLflow client at this project's store for the block, then restore."""
        with mlflow_tracking(self.tracking_uri):
            yield


@contextlib.contextmanager
def mlflow_tracking(uri: str) -> Iterator[None]:
    """Point MLflow's tracking AND registry at `uri` (globals and env vars), restoring all four."""
    # mlflow.set_tracking_uri / set_registry_uri also set MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI:
    # restore both env vars, or one test's store leaks into the next.
    env_names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved_uris = (_tracking_service.utils._tracking_uri, registry_utils._registry_uri)
    saved_env = {name: os.environ.get(name) for name in env_names}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        _tracking_service.utils._tracking_uri, registry_utils._registry_uri = saved_uris
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


SHIPPED_ENVS = ("base", "cards")  # conf folders of the shipped portfolios


def make_project_copy(root: Path, env: str = "local") -> str:
    """Copy pyproject.toml + the shipped conf envs + the example data + empty data layers into
    ``root``; point ``env``'s MLflow store into the copy; return its tracking URI."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    for name in SHIPPED_ENVS:
        shutil.copytree(REPO_ROOT / "conf" / name, root / "conf" / name)
    (root / "conf" / "local").mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "examples", root / "examples")
    resources = root / "src" / "quantumfinance" / "resources"  # the packaged German table
    shutil.copytree(REPO_ROOT / "src" / "quantumfinance" / "resources", resources)
    for layer in DATA_LAYERS:
        (root / "data" / layer).mkdir(parents=True)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow_yml = root / "conf" / ("base" if env == "local" else env) / "mlflow.yml"
    config = yaml.safe_load(mlflow_yml.read_text())
    config["server"]["mlflow_tracking_uri"] = uri
    # Artifacts next to the store, never in the repository's working directory.
    config["tracking"]["experiment"]["create_experiment_kwargs"]["artifact_location"] = str(
        root / "mlartifacts"
    )
    mlflow_yml.write_text(yaml.safe_dump(config))
    return uri


def run_pipelines(
    root: Path, uri: str, names: list[str], extra_params: dict | None = None, env: str = "local"
) -> None:
    """Run each pipeline in its own KedroSession (so that ds logs its model)."""

    bootstrap_project(root)
    model_run_id: str | None = None
    with mlflow_tracking(uri):
        for name in names:
            # A step after ds logs into its own run linked to the model's run (QF_MODEL_RUN_ID),
            # as scripts/run_all.py does: the training run's lineage is never rewritten.
            with model_run(model_run_id):
                with KedroSession.create(
                    project_path=root, env=env, runtime_params=extra_params
                ) as session:
                    session.run(pipeline_names=[name])
            close_stale_mlflow_runs()
            if name == "data_science":
                model_run_id = latest_model_run_id()


def latest_model_run_id() -> str:
    """The run that logged the newest registered version of the credit model."""
    versions = mlflow.MlflowClient().search_model_versions(f"name='{MODEL_NAME}'")
    return max(versions, key=lambda v: int(v.version)).run_id


@contextlib.contextmanager
def model_run(run_id: str | None) -> Iterator[None]:
    """Set QF_MODEL_RUN_ID (the training run later steps link to) for the block, then restore."""
    saved = os.environ.pop(MODEL_RUN_ENV, None)
    if run_id:
        os.environ[MODEL_RUN_ENV] = run_id
    try:
        yield
    finally:
        os.environ.pop(MODEL_RUN_ENV, None)
        if saved is not None:
            os.environ[MODEL_RUN_ENV] = saved


def close_stale_mlflow_runs() -> None:
    """Pop runs kedro-mlflow already finished but that stay on this thread's active-run stack.

    Observed with Kedro 1.7 + kedro-mlflow 2.0.3 + MLflow 3.17: after a session the store says
    FINISHED but ``mlflow.active_run()`` still returns the run, so the next session in the same
    process would log into it. One process per ``kedro run`` never sees this.
    """
    while mlflow.active_run() is not None:
        mlflow.end_run()


def train_project(
    root: Path, extra_params: dict | None = None, env: str = "local"
) -> TrainedProject:
    """Build a project copy and run the whole chain on ``env``'s portfolio once."""

    uri = make_project_copy(root, env)
    bootstrap_project(root)
    available = register_pipelines()
    names = [
        n for n in ("ingest", "data_engineering", "data_science", "reporting") if n in available
    ]
    run_log = root / "run.log"
    with captured_run_log(run_log):
        run_pipelines(root, uri, names, extra_params, env)
    conf = root / "conf" / ("base" if env == "local" else env)
    data = root / yaml.safe_load((conf / "globals.yml").read_text())["data_root"]
    return TrainedProject(
        root=root,
        tracking_uri=uri,
        model_uri="models:/credit-score@champion",
        applicants_test=pd.read_parquet(data / "05_model_input" / "applicants_test.parquet"),
        scored_test=pd.read_parquet(data / "07_model_output" / "scored_applicants.parquet"),
        scored_train=pd.read_parquet(data / "07_model_output" / "scored_train_applicants.parquet"),
        metrics=yaml.safe_load((data / "08_reporting" / "metrics.json").read_text()),
        env=env,
        contract=load_contract(conf / "applicant_contract.yml"),
        data=data,
        run_log=run_log,
    )


@contextlib.contextmanager
def captured_run_log(path: Path) -> Iterator[None]:
    """Write the block's log to ``path`` as conf/logging.yml's console handler formats it (its
    formatter and logger levels, warnings as log records), then restore logging as it was."""
    config = yaml.safe_load((REPO_ROOT / "conf" / "logging.yml").read_text())
    console = config["handlers"]["console"]
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(**{
        {"format": "fmt"}.get(k, k): v for k, v in config["formatters"][console["formatter"]].items()
    }))  # fmt: skip
    levels = {name: spec["level"] for name, spec in config["loggers"].items()}
    saved = {name: logging.getLogger(name).level for name in [*levels, ""]}
    root_logger = logging.getLogger()
    for name, level in [*levels.items(), ("", config["root"]["level"])]:
        logging.getLogger(name).setLevel(level)
    root_logger.addHandler(handler)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root_logger.removeHandler(handler)
        handler.close()
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> TrainedProject:
    """The credit model trained once per test session in a tmp project copy (see module doc)."""
    return train_project(tmp_path_factory.mktemp("trained_project") / "project")


@pytest.fixture(scope="session")
def cards_project(tmp_path_factory: pytest.TempPathFactory) -> TrainedProject:
    """The second shipped portfolio (conf/cards) trained once per session, same code."""
    return train_project(tmp_path_factory.mktemp("cards_project") / "project", env="cards")
