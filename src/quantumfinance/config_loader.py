"""Kedro's config loader, with the MLflow store pinned to the project root.

`sqlite:///mlflow.db` in mlflow.yml is relative to the working directory for MLflow, so a session
started in `notebooks/` (or any other folder) would write a new, empty `notebooks/mlflow.db`.
This loader makes such a URI absolute under the project root (the folder holding `conf/`), so a
notebook, `kedro jupyter`, a script and `kedro run` all use the project's one store, as
`quantumfinance.registry.project_tracking_uri` does for the scripts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.config import OmegaConfigLoader
from omegaconf.resolvers import oc

# settings.CONFIG_LOADER_ARGS: here so that a script reads the config exactly as a session does
# without importing settings (and with it the hooks, MLflow and the pipelines).
LOADER_ARGS: dict[str, Any] = {
    "base_env": "base",
    "default_run_env": "local",
    # `${oc.env:VAR,default}` is allowed outside credentials* so that conf/stack can point at
    # the endpoints given by `.stack.env` / `.env` without copying them into YAML.
    "custom_resolvers": {"oc.env": oc.env},
    # Parameters merge deeply across envs. With Kedro's default (destructive: an env's top-level
    # key replaces base's), `--params batch_scoring.partitions=4` under `--env stack` (which does
    # not define batch_scoring) turned batch_scoring into {partitions: 4}, losing model_uri: the
    # runtime params are merged into the env's files before the env replaces base. Every shipped
    # env's parameters are identical under both strategies.
    "merge_strategy": {"parameters": "soft"},
}
SQLITE = "sqlite:///"
URI_KEYS = ("mlflow_tracking_uri", "mlflow_registry_uri")


def anchored_uri(uri: Any, project_root: Path) -> Any:
    """A relative SQLite URI made absolute under ``project_root``; any other value unchanged."""
    if not isinstance(uri, str) or not uri.startswith(SQLITE) or uri.startswith(SQLITE + "/"):
        return uri
    return f"{SQLITE}{(project_root / uri.removeprefix(SQLITE)).resolve()}"


class ProjectConfigLoader(OmegaConfigLoader):
    """OmegaConfigLoader whose `mlflow` config names the project's store wherever it is read."""

    def __getitem__(self, key: str) -> dict[str, Any]:
        config = super().__getitem__(key)
        server = config.get("server") if key == "mlflow" else None
        if isinstance(server, dict):
            root = Path(self.conf_source).resolve().parent
            config = {**config, "server": {**server}}
            for name in URI_KEYS:
                config["server"][name] = anchored_uri(server.get(name), root)
        return config
