"""Model registry for ``credit-score``: the promotion gate, rollback and status.

Every data_science run registers a version; the gate (``gate``, rules in
docs/decisions/0010-model-selection-calibration-gate.md) judges it on evidence: candidate and
champion score the SAME test rows; the candidate must clear ``min_auc``, pass the calibration
and stability checks, and beat the champion by more than the noise (paired-bootstrap interval
of the AUC difference above ``min_auc_gain``). A version that behaves exactly like the champion
is removed again (no new version). A refused candidate becomes the ``challenger``. Without
evidence (a bare run) the gate falls back to the metric-only rule (test AUC no worse than the
champion's minus ``tolerance``). Champion moves are kept in the registered-model tag
``champion_history`` so that ``rollback`` can step back to the previous champion.

CLI: ``python -m quantumfinance.registry status|rollback [--tracking-uri URI] [--env ENV]``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kedro.config import OmegaConfigLoader
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf.resolvers import oc

MODEL_NAME = "credit-score"
CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "champion_history"
GATE_METRIC = "test_auc"
logger = logging.getLogger(__name__)


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

    champion = _alias_version(client, name, CHAMPION)
    champion_scored, problem = None, None
    if champion is not None:
        try:
            model = mlflow.pyfunc.load_model(f"models:/{name}/{champion.version}")
            champion_scored = model.predict(applicants)
        except (MlflowException, OSError, ValueError, KeyError) as exc:
            problem = f"champion v{champion.version} cannot score the evaluation rows: {exc}"
    return GateEvidence(
        np.asarray(observed, dtype="int64"), scored, champion_scored, problem, contract_digest
    )


def _alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version an alias points at, or None when the alias is not set."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def _history(client: MlflowClient, name: str) -> list[str]:
    """Champion versions in the order they were promoted (oldest first)."""
    tag = client.get_registered_model(name).tags.get(HISTORY_TAG, "")
    return [v for v in tag.split(",") if v]


def _set_champion(client: MlflowClient, name: str, version: str, history: list[str]) -> None:
    """Point champion at ``version`` and record the history used by rollback."""
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join(history))


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


def rollback(client: MlflowClient, name: str = MODEL_NAME) -> str:
    """Move ``champion`` back to the previous champion; return a sentence saying what was done."""
    current = _alias_version(client, name, CHAMPION)
    if current is None:
        raise RuntimeError(f"model '{name}' has no champion to roll back")
    current_version = str(current.version)
    history = _history(client, name)
    while history and history[-1] != current_version:  # alias moved by hand since: trust the alias
        history.pop()
    if len(history) < 2:
        raise RuntimeError(
            f"model '{name}' v{current_version} has no previous champion to roll back to"
        )
    previous = history[-2]
    _set_champion(client, name, previous, history[:-1])
    client.set_model_version_tag(name, current_version, "rolled_back", "true")
    return f"champion of '{name}' rolled back from v{current_version} to v{previous}"


def status(client: MlflowClient, name: str = MODEL_NAME) -> str:
    """Aliases, gate metric and promotion outcome of every version, newest first."""
    versions = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: -int(v.version))
    if not versions:
        return f"model '{name}' has no registered version"
    lines = [f"model '{name}' (champion history: {','.join(_history(client, name)) or '-'})"]
    # search results carry no aliases; the registered model has the alias -> version map.
    by_version: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(name).aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    for v in versions:
        aliases = ",".join(sorted(by_version.get(str(v.version), []))) or "-"
        auc = _metric(client, v)
        auc_text = f"{auc:.4f}" if auc is not None else "n/a"
        lines.append(
            f"  v{v.version:<4} aliases={aliases:<22} {GATE_METRIC}={auc_text} "
            f"promotion={v.tags.get('promotion', '-')} ({v.tags.get('promotion_reason', '')})"
        )
    return "\n".join(lines)


def project_config(project_path: Path, env: str | None = None) -> OmegaConfigLoader:
    """The project's config as a Kedro session in ``env`` reads it (env overrides base)."""
    return OmegaConfigLoader(
        conf_source=str(project_path / "conf"),
        base_env="base",
        default_run_env=env or "local",
        config_patterns={"mlflow": ["mlflow*", "mlflow*/**"]},
        custom_resolvers={"oc.env": oc.env},
    )


def project_data_root(project_path: Path, env: str | None = None) -> Path:
    """The env's data folder (``globals.yml`` ``data_root``: data, or data/<portfolio>)."""
    return project_path / project_config(project_path, env)["globals"].get("data_root", "data")


def project_tracking_uri(project_path: Path, env: str | None = None) -> str:
    """The tracking URI of the project's ``mlflow.yml`` (env overrides base), as kedro-mlflow sees it."""
    uri = project_config(project_path, env)["mlflow"]["server"]["mlflow_tracking_uri"]
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        uri = f"sqlite:///{(project_path / uri.removeprefix('sqlite:///')).resolve()}"
    return uri


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: ``status`` or ``rollback``."""
    parser = argparse.ArgumentParser(prog="python -m quantumfinance.registry", description=__doc__)
    parser.add_argument("command", choices=["status", "rollback"])
    parser.add_argument("--model", default=MODEL_NAME)
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"))
    parser.add_argument("--env", default=None, help="Kedro env whose mlflow.yml to read")
    args = parser.parse_args(argv)
    uri = args.tracking_uri or project_tracking_uri(Path.cwd(), args.env)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        outcome = (
            rollback(client, args.model)
            if args.command == "rollback"
            else status(client, args.model)
        )
        sys.stdout.write(outcome + "\n")
    except (RuntimeError, MlflowException) as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
