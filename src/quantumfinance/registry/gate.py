"""The promotion gate: judge a training run's model on evidence, then register it in one call.

Rules in docs/decisions/0010-model-selection-calibration-gate.md: candidate and champion score the
SAME test rows; the candidate must clear ``min_auc``, pass the calibration and stability checks,
and beat the champion by more than the noise (paired-bootstrap interval of the AUC difference
above ``min_auc_gain``). Without evidence (a bare run) the metric-only rule applies (test AUC no
worse than the champion's minus ``tolerance``).

Registration is all-or-nothing as the registry shows it: the artifacts' digest and the gate's
decision exist BEFORE a version does. A candidate that behaves exactly like the champion creates
no version; any other is created by one ``create_model_version`` call whose tags carry its
digest, contract digest, training run, data manifest and gate decision; aliases follow
(``champion`` if promoted, else ``challenger``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantumfinance.registry.versions import (
    CHALLENGER,
    CHAMPION,
    CONTRACT_DIGEST_TAG,
    DATA_MANIFEST_TAG,
    GATE_DECISION_TAG,
    GATE_METRIC,
    MODEL_DIGEST_TAG,
    REGISTRATION_TAG,
    TRAINING_RUN_TAG,
    alias_version,
    champion_history,
    move_champion,
    version_of_run,
)

if TYPE_CHECKING:  # MLflow takes seconds to import: only the commands that need it do
    import numpy as np
    import pandas as pd
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)
TAG_LIMIT = 5000  # characters MLflow's SQL registry keeps for a tag value


@dataclass(frozen=True)
class PromotionDecision:
    """What the gate did with a candidate version, why, and the evidence it judged by."""

    version: str | None  # None: no version was created (identical to the champion)
    promoted: bool
    reason: str
    champion: str | None
    evidence: dict[str, Any] = field(default_factory=dict)
    identical: bool = False  # behaves exactly like the champion: no version created

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

    champion = alias_version(client, name, CHAMPION)
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


@dataclass(frozen=True)
class Candidate:
    """What a finished training run offers the registry: its logged model and the evidence that
    must come WITH a version (computed before one is created)."""

    run_id: str
    source: str  # `models:/<logged model id>`, or any artifact location MLflow registers
    artifacts_sha256: str  # lineage.directory_sha256 of those artifacts
    model_id: str | None = None  # MLflow's logged model id
    contract_sha256: str = ""
    data_manifest: str = ""  # s3://data/_runs/... on the stack; "" when none was written


def logged_candidate(
    client: MlflowClient,
    run_id: str,
    artifact_name: str,
    contract_sha256: str = "",
    data_manifest: str = "",
) -> Candidate:
    """The model ``run_id`` logged as ``artifact_name`` (not yet registered), with the sha256
    of its artifacts computed from the files the registry will serve."""
    import tempfile  # noqa: PLC0415

    import mlflow  # noqa: PLC0415

    from quantumfinance.lineage import directory_sha256  # noqa: PLC0415

    experiment = client.get_run(run_id).info.experiment_id
    query = f"source_run_id = '{run_id}' AND name = '{artifact_name}'"
    logged = client.search_logged_models([experiment], filter_string=query)
    if not logged:
        raise LookupError(f"run {run_id} logged no model named '{artifact_name}'")
    model = logged[-1]
    with tempfile.TemporaryDirectory(prefix="qf-model-") as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=model.artifact_location, dst_path=tmp, tracking_uri=client.tracking_uri
        )
        digest = directory_sha256(Path(local))
    # The registry takes a logged model by its id (a server checks that the run holds it).
    source = f"models:/{model.model_id}"
    return Candidate(run_id, source, digest, model.model_id, contract_sha256, data_manifest)


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


def _metric(client: MlflowClient, run_id: str) -> float | None:
    """The gate metric of a run."""
    return client.get_run(run_id).data.metrics.get(GATE_METRIC)


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


def _decide(
    client: MlflowClient,
    run_id: str,
    champion: ModelVersion | None,
    limits: tuple[float, float],
    evidence: GateEvidence | None,
    rules: dict[str, Any] | None,
) -> tuple[bool, str, dict[str, Any]]:
    """(promote?, reason, figures) of a candidate run, before any version exists."""
    min_auc, tolerance = limits
    if evidence is None:
        champion_auc = _metric(client, champion.run_id) if champion else None
        promoted, reason = _metric_rule(
            _metric(client, run_id), champion, champion_auc, min_auc, tolerance
        )
        return promoted, reason, {}
    metrics = client.get_run(run_id).data.metrics
    champion_version = str(champion.version) if champion else None
    return judge(evidence, metrics, {**(rules or {}), "min_auc": min_auc}, champion_version)


def register(
    client: MlflowClient,
    name: str,
    candidate: Candidate,
    min_auc: float,
    tolerance: float,
    evidence: GateEvidence | None = None,
    rules: dict[str, Any] | None = None,
) -> PromotionDecision:
    """Judge the candidate, then create its version WITH its evidence as tags in one call (none
    when it behaves exactly like the champion) and point ``champion`` or ``challenger`` at it."""
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        client.create_registered_model(name, description=MODEL_DESCRIPTION)
    except MlflowException:  # it exists
        client.update_registered_model(name, description=MODEL_DESCRIPTION)
    champion = alias_version(client, name, CHAMPION)
    champion_version = str(champion.version) if champion else None
    promoted, reason, figures = _decide(
        client, candidate.run_id, champion, (min_auc, tolerance), evidence, rules
    )
    client.set_tag(candidate.run_id, "promotion_reason", reason[:TAG_LIMIT])
    if figures.get("model_digest") and figures.get("model_digest") == figures.get(
        "champion_digest"
    ):
        client.set_tag(candidate.run_id, "promotion", "identical_to_champion")
        logger.info("%s: no new version, %s", name, reason)
        return PromotionDecision(None, False, reason, champion_version, figures, True)
    outcome = "promoted" if promoted else "kept_champion"
    tags = {
        MODEL_DIGEST_TAG: candidate.artifacts_sha256,
        CONTRACT_DIGEST_TAG: candidate.contract_sha256 or "none (bare run)",
        TRAINING_RUN_TAG: candidate.run_id,
        DATA_MANIFEST_TAG: candidate.data_manifest or "none (local files: DVC versions them)",
        GATE_DECISION_TAG: outcome,
        "promotion_reason": reason,
        **{f"gate.{key}": str(value) for key, value in figures.items()},
        REGISTRATION_TAG: "complete",
    }
    created = client.create_model_version(
        name,
        candidate.source,
        candidate.run_id,
        tags={key: value[:TAG_LIMIT] for key, value in tags.items()},
        model_id=candidate.model_id,
    )
    version = str(created.version)
    if promoted:
        history = champion_history(client, name) or ([champion_version] if champion else [])
        move_champion(client, name, version, [*history, version])
    else:
        client.set_registered_model_alias(name, CHALLENGER, version)
    logger.info("%s v%s %s: %s", name, version, outcome, reason)
    return PromotionDecision(
        version, promoted, reason, version if promoted else champion_version, figures
    )
