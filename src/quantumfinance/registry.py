"""Model registry for ``credit-score``: the promotion gate, promote, rollback and status.

Every data_science run registers a version. The registered-model tag ``champion_history`` is
the stack of champions ``rollback`` steps back through; every move of ``champion`` (gate,
promote, rollback) is also appended, never rewritten, as a registered-model tag
``champion_move.NNNN`` (when, from, to, by what, why). ``promote`` and ``rollback`` refuse a
version whose artifacts cannot be loaded.

The gate itself (``gate``, rules in
docs/decisions/0010-model-selection-calibration-gate.md) judges it on evidence: candidate and
champion score the SAME test rows; the candidate must clear ``min_auc``, pass the calibration
and stability checks, and beat the champion by more than the noise (paired-bootstrap interval
of the AUC difference above ``min_auc_gain``). A version that behaves exactly like the champion
is removed again (no new version). A refused candidate becomes the ``challenger``. Without
evidence (a bare run) the gate falls back to the metric-only rule (test AUC no worse than the
champion's minus ``tolerance``).

CLI: ``python -m quantumfinance.registry status|history|rollback|promote VERSION
[--tracking-uri URI] [--env ENV]``. ``status`` and ``history`` read the registry without
importing MLflow (its REST API on a server, SQL on a local store), so they answer in about a
second.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # MLflow takes seconds to import: only the commands that need it do
    import numpy as np
    import pandas as pd
    from kedro.config import OmegaConfigLoader
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

MODEL_NAME = "credit-score"
CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "champion_history"
MOVE_TAG_PREFIX = "champion_move."
GATE_METRIC = "test_auc"
logger = logging.getLogger(__name__)


class RegistryError(RuntimeError):
    """A registry operation was refused; the message says why and what is unchanged."""


@dataclass(frozen=True)
class PromotionDecision:
    """What the gate did with a candidate version, why, and the evidence it judged by."""

    version: str
    promoted: bool
    reason: str
    champion: str | None
    evidence: dict[str, Any] = field(default_factory=dict)
    identical: bool = False  # behaves exactly like the champion: the version was removed

    def as_record(self) -> dict[str, Any]:
        """JSON-able form (the model card reads it)."""
        return asdict(self)


@dataclass(frozen=True)
class GateEvidence:
    """Outcomes of the evaluation rows and what candidate and champion made of the SAME rows."""

    observed: np.ndarray
    candidate: pd.DataFrame  # the candidate's inference output (pd, score, band, ...)
    champion: pd.DataFrame | None = None  # the champion's, on the same rows (None: no champion)
    champion_problem: str | None = None  # why the champion could not score them
    contract_digest: str = ""


def model_digest(scored: pd.DataFrame, contract_digest: str = "") -> str:
    """sha256 of a model's behaviour: its contract and its full output on the evaluation rows."""
    text = scored.to_json(orient="split", double_precision=15, default_handler=str)
    return hashlib.sha256(f"{contract_digest}\n{text}".encode()).hexdigest()


def collect_evidence(
    client: MlflowClient,
    name: str,
    applicants: pd.DataFrame,
    scored: pd.DataFrame,
    observed: Any,
    contract_digest: str,
) -> GateEvidence:
    """The gate's evidence: the current champion (if any) scores the candidate's test rows."""
    import mlflow  # noqa: PLC0415 - only the gate loads a champion
    import numpy as np  # noqa: PLC0415

    champion = _alias_version(client, name, CHAMPION)
    champion_scored, problem = None, None
    if champion is not None:
        try:
            model = mlflow.pyfunc.load_model(f"models:/{name}/{champion.version}")
            champion_scored = model.predict(applicants)
        except Exception as exc:  # noqa: BLE001 - e.g. a champion pickled by older node code
            problem = f"champion v{champion.version} cannot score the evaluation rows: {exc}"
    return GateEvidence(
        np.asarray(observed, dtype="int64"), scored, champion_scored, problem, contract_digest
    )


def _alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version an alias points at, or None when the alias is not set."""
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _history(client: MlflowClient, name: str) -> list[str]:
    """Champion versions in the order they were promoted (oldest first)."""
    tag = client.get_registered_model(name).tags.get(HISTORY_TAG, "")
    return [v for v in tag.split(",") if v]


def _set_champion(
    client: MlflowClient,
    name: str,
    version: str,
    history: list[str],
    how: str = "gate",
    why: str = "passed the promotion gate",
) -> None:
    """Point champion at ``version``, record the rollback stack and append the move to the log."""
    previous = _alias_version(client, name, CHAMPION)
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join(history))
    moves = [k for k in client.get_registered_model(name).tags if k.startswith(MOVE_TAG_PREFIX)]
    entry = (
        f"{dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} {how}: "
        f"v{previous.version if previous else '-'} -> v{version} ({why})"
    )
    client.set_registered_model_tag(name, f"{MOVE_TAG_PREFIX}{len(moves) + 1:04d}", entry[:5000])


MODEL_DESCRIPTION = (
    "Credit scoring inference pipeline logged by kedro-mlflow: applicant contract check -> "
    "PD -> score points -> band -> decision -> reason codes. One version per data_science run; "
    "`champion` is set only by the promotion gate (or rollback), `challenger` is a gated "
    "candidate that is not the champion. Each version carries its applicant contract and, once "
    "the reporting pipeline ran, its model card as the description."
)
DESCRIPTION_LIMIT = 5000  # characters MLflow's SQL registry keeps for a description


def describe(client: MlflowClient, name: str, run_id: str, text: str) -> str:
    """Describe the registered model and set ``text`` as the run's version description."""
    client.update_registered_model(name, description=MODEL_DESCRIPTION)
    version = str(version_of_run(client, name, run_id).version)
    if len(text) > DESCRIPTION_LIMIT:
        note = "\n\n(truncated: the full card is the run's artifact reporting/model_card.md)"
        text = text[: DESCRIPTION_LIMIT - len(note)] + note
    client.update_model_version(name, version, description=text)
    return version


def version_of_run(client: MlflowClient, name: str, run_id: str) -> ModelVersion:
    """The registered version logged by ``run_id``; a clear error if the run registered none."""
    versions = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if not versions:
        raise LookupError(f"run {run_id} registered no version of model '{name}'")
    return max(versions, key=lambda v: int(v.version))


def _metric(client: MlflowClient, version: ModelVersion) -> float | None:
    """The gate metric of the run that produced a version."""
    return client.get_run(version.run_id).data.metrics.get(GATE_METRIC)


def _check_run(metrics: dict[str, float], rules: dict[str, Any]) -> list[str]:
    """The candidate's calibration (CV out-of-fold) and stability (score PSI) problems."""
    problems = []
    slope, citl, psi = (
        metrics.get(k) for k in ("cv_calibration_slope", "cv_citl_points", "score_psi")
    )
    lo, hi = rules["calibration_slope"]
    if slope is None or not lo <= slope <= hi:
        problems.append(f"calibration slope {slope} outside [{lo}, {hi}]")
    if citl is None or abs(citl) > rules["max_citl_points"]:
        problems.append(
            f"calibration-in-the-large {citl} points beyond ±{rules['max_citl_points']}"
        )
    if psi is None or psi > rules["max_score_psi"]:
        problems.append(f"score PSI {psi} above {rules['max_score_psi']}")
    return problems


def judge(
    evidence: GateEvidence, metrics: dict[str, float], rules: dict[str, Any], champion: str | None
) -> tuple[bool, str, dict[str, Any]]:
    """The gate's rule on evidence: (promote?, reason, figures). See the module doc."""
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    from quantumfinance.pipelines.data_science.evaluation import (  # noqa: PLC0415
        bootstrap_auc_difference,
    )

    candidate_pd = evidence.candidate["pd"].to_numpy(dtype="float64")
    auc = float(roc_auc_score(evidence.observed, candidate_pd))
    figures: dict[str, Any] = {
        "auc": auc,
        "rows": len(evidence.observed),
        "model_digest": model_digest(evidence.candidate, evidence.contract_digest),
        **{k: metrics.get(k) for k in ("cv_calibration_slope", "cv_citl_points", "score_psi")},
    }
    problems = _check_run(metrics, rules)
    if auc < rules["min_auc"]:
        problems.insert(0, f"test AUC {auc:.4f} < min_auc {rules['min_auc']:.4f}")
    if evidence.champion is not None:
        figures["champion_digest"] = model_digest(evidence.champion, evidence.contract_digest)
        if figures["champion_digest"] == figures["model_digest"]:
            return False, f"identical to champion v{champion} (same model digest)", figures
        boot = rules["bootstrap"]
        figures.update(
            bootstrap_auc_difference(
                evidence.observed,
                candidate_pd,
                evidence.champion["pd"].to_numpy(dtype="float64"),
                boot["n"],
                boot["seed"],
            )
        )
        if figures["auc_difference_lo"] <= rules["min_auc_gain"]:
            problems.append(
                f"AUC gain over champion v{champion} {figures['auc_difference']:+.4f} is inside "
                f"the noise (95 % interval {figures['auc_difference_lo']:+.4f} to "
                f"{figures['auc_difference_hi']:+.4f} not above {rules['min_auc_gain']})"
            )
    elif evidence.champion_problem:
        problems.append(evidence.champion_problem)
    if problems:
        return False, "; ".join(problems), figures
    beat = (
        f"beats champion v{champion} by {figures['auc_difference']:+.4f} AUC (95 % interval "
        f"{figures['auc_difference_lo']:+.4f} to {figures['auc_difference_hi']:+.4f})"
        if evidence.champion is not None
        else "no champion yet"
    )
    return True, f"test AUC {auc:.4f}, calibration and stability pass; {beat}", figures


def _metric_rule(
    auc: float | None,
    champion: ModelVersion | None,
    champion_auc: float | None,
    min_auc: float,
    tolerance: float,
) -> tuple[bool, str]:
    """The metric-only rule of a run without evaluation data."""
    if auc is None:
        return False, f"run has no '{GATE_METRIC}' metric"
    if auc < min_auc:
        return False, f"{GATE_METRIC} {auc:.4f} < min_auc {min_auc:.4f}"
    if champion_auc is not None and auc < champion_auc - tolerance:
        return False, (
            f"{GATE_METRIC} {auc:.4f} < champion v{champion.version} {champion_auc:.4f} "
            f"- tolerance {tolerance:.4f}"
        )
    return True, f"{GATE_METRIC} {auc:.4f} >= min_auc {min_auc:.4f}" + (
        f" and >= champion v{champion.version} {champion_auc:.4f} - {tolerance:.4f}"
        if champion_auc is not None
        else " (no champion yet)"
    )


def gate(
    client: MlflowClient,
    name: str,
    run_id: str,
    min_auc: float,
    tolerance: float,
    evidence: GateEvidence | None = None,
    rules: dict[str, Any] | None = None,
) -> PromotionDecision:
    """Make the run's version ``champion`` if it passes the gate, else ``challenger``; a version
    identical to the champion is removed. Decision and evidence go to the version's tags."""
    candidate = version_of_run(client, name, run_id)
    version = str(candidate.version)
    client.update_registered_model(name, description=MODEL_DESCRIPTION)
    champion = _alias_version(client, name, CHAMPION)
    champion_version = str(champion.version) if champion else None
    figures: dict[str, Any] = {}
    if evidence is None:
        champion_auc = _metric(client, champion) if champion else None
        promoted, reason = _metric_rule(
            _metric(client, candidate), champion, champion_auc, min_auc, tolerance
        )
    else:
        metrics = client.get_run(run_id).data.metrics
        promoted, reason, figures = judge(
            evidence, metrics, {**(rules or {}), "min_auc": min_auc}, champion_version
        )
    identical = figures.get("model_digest") is not None and figures.get(
        "model_digest"
    ) == figures.get("champion_digest")
    client.set_tag(run_id, "promotion_reason", reason)
    if identical:  # same behaviour as the champion: no new version
        client.delete_model_version(name, version)
        client.set_tag(run_id, "promotion", "identical_to_champion")
        logger.info("%s v%s removed: %s", name, version, reason)
        return PromotionDecision(version, False, reason, champion_version, figures, True)
    if promoted:
        history = _history(client, name) or ([champion_version] if champion else [])
        _set_champion(client, name, version, [*history, version])
    else:
        client.set_registered_model_alias(name, CHALLENGER, version)
    outcome = "promoted" if promoted else "kept_champion"
    client.set_model_version_tag(name, version, "promotion", outcome)
    client.set_model_version_tag(name, version, "promotion_reason", reason)
    for key, value in figures.items():
        client.set_model_version_tag(name, version, f"gate.{key}", str(value))
    now_champion = version if promoted else champion_version
    logger.info("%s v%s %s: %s", name, version, outcome, reason)
    return PromotionDecision(version, promoted, reason, now_champion, figures)


def download_version(client: MlflowClient, name: str, version: str, dst: str | None = None) -> Path:
    """The files of one registered version, found through ``client``'s own registry and tracking
    server. (MLflow resolves a ``models:/`` URI with the process-global registry URI whatever
    URIs are passed, so a process that talks to two stores must not download by that URI.)"""
    import mlflow  # noqa: PLC0415

    source = client.get_model_version_download_uri(name, version)
    return Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=dst, tracking_uri=client.tracking_uri
        )
    )


def check_loadable(client: MlflowClient, name: str, version: str) -> str:
    """Load the version's model as the API would; RegistryError naming the cause when it cannot
    be loaded (artifacts missing, storage down, digest not the one registered). Returns a line
    saying what was checked."""
    import tempfile  # noqa: PLC0415

    import mlflow  # noqa: PLC0415

    from quantumfinance.lineage import MODEL_DIGEST_TAG, directory_sha256  # noqa: PLC0415

    uri = f"models:/{name}/{version}"
    try:
        expected = client.get_model_version(name, version).tags.get(MODEL_DIGEST_TAG)
        with tempfile.TemporaryDirectory(prefix="qf-check-") as tmp:
            local = download_version(client, name, version, tmp)
            digest = directory_sha256(local)
            mlflow.pyfunc.load_model(str(local))
    except Exception as exc:  # noqa: BLE001 - any failure means: not servable
        raise RegistryError(
            f"refused: {uri} cannot be loaded, so it cannot serve "
            f"({type(exc).__name__}: {str(exc)[:300]}); champion unchanged"
        ) from exc
    if expected and digest != expected:
        raise RegistryError(
            f"refused: the artifacts of {uri} have sha256 {digest[:12]}, not the "
            f"{expected[:12]} registered when it was trained; champion unchanged"
        )
    return f"{uri} loads (artifacts sha256 {digest[:12]})"


def rollback(client: MlflowClient, name: str = MODEL_NAME) -> str:
    """Move ``champion`` back to the previous champion if it loads; say what was done."""
    current = _alias_version(client, name, CHAMPION)
    if current is None:
        raise RegistryError(f"model '{name}' has no champion to roll back")
    current_version = str(current.version)
    history = _history(client, name)
    while history and history[-1] != current_version:  # alias moved by hand since: trust the alias
        history.pop()
    if len(history) < 2:
        raise RegistryError(
            f"model '{name}' v{current_version} has no previous champion to roll back to"
        )
    previous = history[-2]
    checked = check_loadable(client, name, previous)
    _set_champion(client, name, previous, history[:-1], "rollback", f"from v{current_version}")
    client.set_model_version_tag(name, current_version, "rolled_back", "true")
    return f"champion of '{name}' rolled back from v{current_version} to v{previous}; {checked}"


def promote(client: MlflowClient, version: str, name: str = MODEL_NAME) -> str:
    """Make ``version`` champion (e.g. roll forward after a rollback) if it loads; say so."""
    version = str(version).removeprefix("v")
    current = _alias_version(client, name, CHAMPION)
    current_version = str(current.version) if current else None
    if current_version == version:
        return f"v{version} of '{name}' is already champion; nothing changed"
    checked = check_loadable(client, name, version)
    history = [v for v in _history(client, name) if v != version]
    if current_version and (not history or history[-1] != current_version):
        history.append(current_version)
    _set_champion(client, name, version, [*history, version], "promote", "by an operator")
    client.set_model_version_tag(name, version, "rolled_back", "false")
    client.set_model_version_tag(name, version, "promotion", "promoted_by_operator")
    challenger = _alias_version(client, name, CHALLENGER)
    if challenger is not None and str(challenger.version) == version:
        client.delete_registered_model_alias(name, CHALLENGER)  # a champion is no challenger
    was = f"v{current_version}" if current_version else "no champion"
    return f"champion of '{name}' moved from {was} to v{version}; {checked}"


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
        lines.append(
            f"  v{v['version']:<4} aliases={aliases:<22} {GATE_METRIC}={auc} "
            f"promotion={tags.get('promotion', '-')} ({tags.get('promotion_reason', '')})"
        )
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


def project_config(project_path: Path, env: str | None = None) -> OmegaConfigLoader:
    """The project's config exactly as a Kedro session in ``env`` reads it (settings' loader and
    arguments; relative SQLite stores anchored at the project root), plus the ``mlflow`` files."""
    from quantumfinance.config_loader import LOADER_ARGS, ProjectConfigLoader  # noqa: PLC0415

    return ProjectConfigLoader(
        conf_source=str(project_path / "conf"),
        **{**LOADER_ARGS, "default_run_env": env or LOADER_ARGS["default_run_env"]},
        config_patterns={"mlflow": ["mlflow*", "mlflow*/**"]},
    )


def project_data_root(project_path: Path, env: str | None = None) -> Path:
    """The env's data folder (``globals.yml`` ``data_root``: data, or data/<portfolio>)."""
    return project_path / project_config(project_path, env)["globals"].get("data_root", "data")


def project_tracking_uri(project_path: Path, env: str | None = None) -> str:
    """The tracking URI of the project's ``mlflow.yml`` (env overrides base), as kedro-mlflow sees it."""
    return project_config(project_path, env)["mlflow"]["server"]["mlflow_tracking_uri"]


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: ``status``, ``history``, ``rollback`` or ``promote VERSION``."""
    parser = argparse.ArgumentParser(prog="python -m quantumfinance.registry", description=__doc__)
    parser.add_argument("command", choices=["status", "history", "rollback", "promote"])
    parser.add_argument("version", nargs="?", help="promote: the version to make champion")
    parser.add_argument("--model", default=MODEL_NAME)
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"))
    parser.add_argument("--env", default=None, help="Kedro env whose mlflow.yml to read")
    args = parser.parse_args(argv)
    if args.command == "promote" and not args.version:
        parser.error("promote needs the VERSION to make champion, e.g. `promote 3`")
    uri = args.tracking_uri or project_tracking_uri(Path.cwd(), args.env)
    try:
        if args.command in ("status", "history"):
            reader = RegistryReader(uri)
            report = status if args.command == "status" else history
            outcome = report(reader, args.model)
        else:
            from mlflow.exceptions import MlflowException  # noqa: PLC0415
            from mlflow.tracking import MlflowClient  # noqa: PLC0415

            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            try:
                outcome = (
                    rollback(client, args.model)
                    if args.command == "rollback"
                    else promote(client, args.version, args.model)
                )
            except MlflowException as error:
                raise RegistryError(str(error)) from error
        sys.stdout.write(outcome + "\n")
    except (RegistryError, OSError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
