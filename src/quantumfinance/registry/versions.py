"""What a registered version of ``credit-score`` is, and whether its registration is complete.

A version is created by one ``create_model_version(..., tags=...)`` call that carries its
evidence (``REQUIRED_EVIDENCE``). A version without it was cut off mid-registration (or made by
hand): ``promote``, ``rollback``, the API and batch scoring refuse it (``is_complete``), and
``python -m quantumfinance.registry check --remove`` (or the next ds run) removes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from quantumfinance.lineage import MODEL_DIGEST_TAG  # sha256 of the artifacts

if TYPE_CHECKING:  # MLflow takes seconds to import: only the commands that need it do
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

MODEL_NAME = "credit-score"
CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "champion_history"
MOVE_TAG_PREFIX = "champion_move."
GATE_METRIC = "test_auc"

# Version tags written in the call that creates the version.
CONTRACT_DIGEST_TAG = "quantumfinance.contract_sha256"
TRAINING_RUN_TAG = "quantumfinance.training_run_id"
DATA_MANIFEST_TAG = "quantumfinance.data_manifest"  # s3://data/_runs/... on the stack
GATE_DECISION_TAG = "promotion"  # the gate's decision at training: promoted | kept_champion
REGISTRATION_TAG = "quantumfinance.registration"  # "complete": the tags came with the version
REQUIRED_EVIDENCE = {
    MODEL_DIGEST_TAG: "the artifacts' sha256 recorded at training",
    GATE_DECISION_TAG: "the promotion gate's decision",
}


class RegistryError(RuntimeError):
    """A registry operation was refused; the message says why and what is unchanged."""


def missing_evidence(tags: dict[str, str]) -> list[str]:
    """What a version with these tags lacks to count as completely registered (empty: none)."""
    return [f"{key} ({what})" for key, what in REQUIRED_EVIDENCE.items() if not tags.get(key)]


def is_complete(version: ModelVersion | dict[str, Any]) -> bool:
    """True when a version (MLflow's ModelVersion, or a reader row with ``tags``) carries the
    evidence of a complete registration; the API and batch scoring may call this before loading."""
    tags = version.get("tags", {}) if isinstance(version, dict) else dict(version.tags or {})
    return not missing_evidence(tags)


def require_complete(client: MlflowClient, name: str, version: str) -> ModelVersion:
    """The version, or RegistryError naming it and the evidence it lacks."""
    found = client.get_model_version(name, version)
    missing = missing_evidence(dict(found.tags or {}))
    if missing:
        raise RegistryError(
            f"refused: '{name}' v{version} is incompletely registered (no {', no '.join(missing)}); "
            "champion unchanged. `python -m quantumfinance.registry check --remove` removes it"
        )
    return found


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version an alias points at, or None when the alias is not set."""
    from mlflow.exceptions import MlflowException  # noqa: PLC0415

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def champion_history(client: MlflowClient, name: str) -> list[str]:
    """Champion versions in the order they were promoted (oldest first)."""
    tag = client.get_registered_model(name).tags.get(HISTORY_TAG, "")
    return [v for v in tag.split(",") if v]


def version_of_run(client: MlflowClient, name: str, run_id: str) -> ModelVersion:
    """The registered version logged by ``run_id``; a clear error if the run registered none."""
    versions = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if not versions:
        raise LookupError(f"run {run_id} registered no version of model '{name}'")
    return max(versions, key=lambda v: int(v.version))


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


def move_champion(
    client: MlflowClient,
    name: str,
    version: str,
    history: list[str],
    how: str = "gate",
    why: str = "passed the promotion gate",
) -> None:
    """Point champion at ``version``, record the rollback stack and append the move to the log
    (registered-model tags ``champion_move.NNNN``: the history; aliases: the current state)."""
    import datetime as dt  # noqa: PLC0415

    previous = alias_version(client, name, CHAMPION)
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join(history))
    moves = [k for k in client.get_registered_model(name).tags if k.startswith(MOVE_TAG_PREFIX)]
    entry = (
        f"{dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} {how}: "
        f"v{previous.version if previous else '-'} -> v{version} ({why})"
    )
    client.set_registered_model_tag(name, f"{MOVE_TAG_PREFIX}{len(moves) + 1:04d}", entry[:5000])
