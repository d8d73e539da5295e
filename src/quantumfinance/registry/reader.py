"""Read-only view of the registry without importing MLflow: ``status`` and ``history`` answer in
about a second (MLflow's REST API on a tracking server, SQL on a local or PostgreSQL store)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from quantumfinance.registry.versions import (
    GATE_DECISION_TAG,
    GATE_METRIC,
    HISTORY_TAG,
    MODEL_NAME,
    MOVE_TAG_PREFIX,
    RegistryError,
    missing_evidence,
)


class RegistryReader:
    """Read-only view of one registered model without importing MLflow (seconds to import):
    MLflow's REST API on a tracking server, SQL on a local (sqlite) or direct PostgreSQL store.
    The SQL reads MLflow's registry tables; tests/test_registry.py checks them against
    MlflowClient so that a schema change in MLflow fails a test, not an operator."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def model(self, name: str) -> dict[str, Any] | None:
        """{aliases: {alias: version}, tags: {key: value}, versions: [{version, run_id, tags,
        metric}]} of the registered model, or None when it does not exist."""
        if self.uri.startswith(("http://", "https://")):
            return self._rest(name)
        return self._sql(name)

    def _rest(self, name: str) -> dict[str, Any] | None:
        import requests  # noqa: PLC0415

        session = requests.Session()
        if os.environ.get("MLFLOW_TRACKING_TOKEN"):
            session.headers["Authorization"] = f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"
        elif os.environ.get("MLFLOW_TRACKING_USERNAME"):
            session.auth = (
                os.environ["MLFLOW_TRACKING_USERNAME"],
                os.environ.get("MLFLOW_TRACKING_PASSWORD", ""),
            )
        base = self.uri.rstrip("/") + "/api/2.0/mlflow"

        def get(path: str, **params: Any) -> dict[str, Any] | None:
            response = session.get(f"{base}/{path}", params=params, timeout=10)
            if response.status_code == 404:
                return None
            response.raise_for_status()
            return response.json()

        found = get("registered-models/get", name=name)
        if found is None:
            return None
        model = found["registered_model"]
        versions, token = [], None
        while True:
            page = get(
                "model-versions/search",
                filter=f"name='{name}'",
                max_results=1000,
                **({"page_token": token} if token else {}),
            )
            versions += (page or {}).get("model_versions", [])
            token = (page or {}).get("next_page_token")
            if not token:
                break
        rows = []
        for v in versions:
            run = (get("runs/get", run_id=v.get("run_id", "")) or {}).get("run", {})
            metrics = {m["key"]: m["value"] for m in run.get("data", {}).get("metrics", [])}
            rows.append(
                {
                    "version": str(v["version"]),
                    "run_id": v.get("run_id"),
                    "tags": {t["key"]: t.get("value", "") for t in v.get("tags", [])},
                    "metric": metrics.get(GATE_METRIC),
                }
            )
        return {
            "aliases": {a["alias"]: str(a["version"]) for a in model.get("aliases", [])},
            "tags": {t["key"]: t.get("value", "") for t in model.get("tags", [])},
            "versions": rows,
        }

    def _sql(self, name: str) -> dict[str, Any] | None:
        if self.uri.startswith("sqlite:///"):
            import sqlite3  # noqa: PLC0415

            path = Path(self.uri.removeprefix("sqlite:///"))
            if not path.exists():  # connecting would create an empty store
                raise RegistryError(f"no MLflow store at {path}")
            conn, mark = sqlite3.connect(f"file:{path}?mode=ro", uri=True), "?"
        elif self.uri.startswith(("postgresql", "postgres")):
            import psycopg  # noqa: PLC0415

            dsn = "postgresql://" + self.uri.split("://", 1)[1]
            conn, mark = psycopg.connect(dsn, connect_timeout=5), "%s"
        else:
            raise RegistryError(f"cannot read the registry at {self.uri!r} without MLflow")
        with conn:

            def rows(sql: str, *params: Any) -> list[tuple]:
                return list(conn.execute(sql.replace("?", mark), params).fetchall())

            if not rows("SELECT 1 FROM registered_models WHERE name = ?", name):
                return None
            tags: dict[str, dict[str, str]] = {}
            for version, key, value in rows(
                "SELECT version, key, value FROM model_version_tags WHERE name = ?", name
            ):
                tags.setdefault(str(version), {})[key] = value
            metrics = dict(
                rows(
                    "SELECT m.run_uuid, m.value FROM latest_metrics m JOIN model_versions v "
                    "ON v.run_id = m.run_uuid WHERE v.name = ? AND m.key = ?",
                    name,
                    GATE_METRIC,
                )
            )
            versions = [
                {"version": str(v), "run_id": run, "tags": tags.get(str(v), {}), "metric": None}
                for v, run in rows(
                    "SELECT version, run_id FROM model_versions WHERE name = ? "
                    "AND current_stage <> 'Deleted_Internal'",
                    name,
                )
            ]
            for v in versions:
                v["metric"] = metrics.get(v["run_id"])
            return {
                "aliases": {
                    a: str(v)
                    for a, v in rows(
                        "SELECT alias, version FROM registered_model_aliases WHERE name = ?", name
                    )
                },
                "tags": dict(
                    rows("SELECT key, value FROM registered_model_tags WHERE name = ?", name)
                ),
                "versions": versions,
            }


def status(reader: RegistryReader, name: str = MODEL_NAME) -> str:
    """Aliases, gate metric and promotion outcome of every version, newest first."""
    model = reader.model(name)
    versions = sorted((model or {}).get("versions", []), key=lambda v: -int(v["version"]))
    if not versions:
        return f"model '{name}' has no registered version"
    history = model["tags"].get(HISTORY_TAG, "").strip(",")
    lines = [f"model '{name}' in {reader.uri} (champion history: {history or '-'})"]
    by_version: dict[str, list[str]] = {}
    for alias, version in model["aliases"].items():
        by_version.setdefault(version, []).append(alias)
    for v in versions:
        aliases = ",".join(sorted(by_version.get(v["version"], []))) or "-"
        auc = f"{v['metric']:.4f}" if v["metric"] is not None else "n/a"
        tags = v["tags"]
        missing = missing_evidence(tags)
        gate = (
            f"INCOMPLETE (no {', no '.join(missing)})"
            if missing
            else f"gate={tags[GATE_DECISION_TAG]} ({tags.get('promotion_reason', '')})"
        )
        lines.append(f"  v{v['version']:<4} aliases={aliases:<22} {GATE_METRIC}={auc} {gate}")
    return "\n".join(lines)


def history(reader: RegistryReader, name: str = MODEL_NAME) -> str:
    """Every move of ``champion`` ever made (gate, promote, rollback), oldest first."""
    model = reader.model(name)
    if model is None:
        return f"model '{name}' is not registered"
    moves = sorted((k, v) for k, v in model["tags"].items() if k.startswith(MOVE_TAG_PREFIX))
    if not moves:
        return f"champion of '{name}' has never moved"
    return "\n".join(f"{k.removeprefix(MOVE_TAG_PREFIX)} {v}" for k, v in moves)
