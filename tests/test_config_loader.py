"""Relative SQLite stores resolve to the project root whatever the working directory; the
stack's tracking server URI and absolute URIs are left alone."""

from __future__ import annotations

import pytest

from quantumfinance import settings
from quantumfinance.config_loader import ProjectConfigLoader, anchored_uri
from quantumfinance.registry import project_tracking_uri
from tests.conftest import REPO_ROOT


def project_loader(env: str) -> ProjectConfigLoader:
    """The loader a Kedro session of this project builds (settings.py's class and arguments),
    with the `mlflow` pattern kedro-mlflow adds to it."""
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(REPO_ROOT / "conf"), env=env, **settings.CONFIG_LOADER_ARGS
    )
    loader.config_patterns["mlflow"] = ["mlflow*", "mlflow*/**"]
    return loader


@pytest.mark.parametrize(("env", "store"), [("local", "mlflow.db"), ("cards", "mlflow-cards.db")])
def test_relative_sqlite_store_is_the_project_roots(env, store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # e.g. notebooks/: a relative URI would land here
    server = project_loader(env)["mlflow"]["server"]

    assert server["mlflow_tracking_uri"] == f"sqlite:///{REPO_ROOT.resolve() / store}"
    assert server["mlflow_registry_uri"] is None  # null still means "same as tracking"
    # the scripts' reading of the same file agrees (registry CLI, run_all's summary)
    assert server["mlflow_tracking_uri"] == project_tracking_uri(REPO_ROOT, env)


def test_stack_server_uri_is_untouched(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    server = project_loader("stack")["mlflow"]["server"]
    assert server["mlflow_tracking_uri"] == "http://127.0.0.1:5999"


@pytest.mark.parametrize(
    "uri",
    ["sqlite:////abs/mlflow.db", "http://127.0.0.1:5000", "databricks", None, "postgresql://h/db"],
)
def test_other_uris_are_kept(uri, tmp_path):
    assert anchored_uri(uri, tmp_path) == uri


@pytest.mark.parametrize("env", ["local", "cards", "stack"])
def test_a_runtime_param_overrides_one_key_in_any_env(env, monkeypatch):
    """`kedro run --env stack --params batch_scoring.partitions=4` keeps batch_scoring's other
    keys, although conf/stack does not define batch_scoring (it overrides only the storage)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "unused")
    plain = project_loader(env)["parameters"]
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(REPO_ROOT / "conf"),
        env=env,
        runtime_params={"batch_scoring": {"partitions": 4}},
        **settings.CONFIG_LOADER_ARGS,
    )
    assert loader["parameters"]["batch_scoring"] == {**plain["batch_scoring"], "partitions": 4}
    assert plain["batch_scoring"]["model_uri"].startswith("models:/")
