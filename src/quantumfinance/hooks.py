"""Project hooks: provenance tags on every MLflow run, and the promotion gate after ``ds``."""

from __future__ import annotations

import hashlib
import logging
import subprocess
from pathlib import Path
from typing import Any

import mlflow
import yaml
from kedro.framework.hooks import hook_impl
from kedro.io import DatasetError
from kedro_mlflow.pipeline.pipeline_ml import PipelineML
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from quantumfinance import registry
from quantumfinance.contract import ContractError
from quantumfinance.pipelines.data_science.pipeline import log_model_kwargs_for

logger = logging.getLogger(__name__)


def git_commit(project_path: Path) -> str:
    """HEAD commit of the project, else of the installed package's checkout (``-dirty`` if changed)."""
    for folder in (project_path, Path(__file__).resolve().parent):
        sha = _git_head(folder)
        if sha != "unknown":
            return sha
    return "unknown"


def _git_head(project_path: Path) -> str:
    """HEAD commit of the git checkout holding ``project_path``, or ``unknown``."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=project_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=project_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def raw_data_md5(project_path: Path, env: str | None = None) -> tuple[str, str]:
    """DVC md5 of the raw applicants: the file's own md5 (what DVC records), else dvc.lock's.

    The file comes first: after a synthetic or user-file ingest, dvc.lock may describe other data.
    """
    raw_folder = registry.project_data_root(project_path, env) / "01_raw"
    for path in sorted(raw_folder.glob("*applicants*")):
        digest = hashlib.md5(usedforsecurity=False)
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest(), path.name
    lock = project_path / "dvc.lock"
    if lock.exists():
        stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
        for stage in stages.values():
            for out in stage.get("outs", []):
                if out.get("path", "").startswith("data/01_raw") and "md5" in out:
                    return out["md5"], "dvc.lock"
    return "missing", "none"


CONTRACT_DATASET = "applicant_contract"
MODEL_CARD = "model_card"
GATE_DECISION = "promotion_decision"  # written after the gate; read by the model card


class ProvenanceAndPromotionHooks:
    """Checks the applicant contract first; tags runs with code/data/env provenance; describes
    the logged model by the contract; runs the promotion gate once a model is logged."""

    def __init__(self) -> None:
        self._run_id: str | None = None

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        """Load (and so check) the env's applicant contract before any node runs or writes: a
        broken contract fails the run with its file, field and problem, and nothing is written."""
        if CONTRACT_DATASET not in catalog:
            return
        try:
            catalog.load(CONTRACT_DATASET)
        except DatasetError as exc:
            # Kedro wraps load errors (twice); the contract's own message is the one to read.
            cause = exc.__cause__
            while cause is not None and not isinstance(cause, ContractError):
                cause = cause.__cause__
            if cause is not None:
                raise cause from None
            raise

    @hook_impl(trylast=True)  # after kedro-mlflow's hook has started the run
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Tag the active run with the git commit, the raw data md5 and the Kedro env; give the
        model that ds logs its signature and input example from the env's contract."""
        if isinstance(pipeline, PipelineML) and CONTRACT_DATASET in catalog:
            pipeline.log_model_kwargs.update(log_model_kwargs_for(catalog.load(CONTRACT_DATASET)))
        run = mlflow.active_run()
        self._run_id = run.info.run_id if run else None
        if run is None:
            return
        project_path = Path(run_params.get("project_path") or ".")
        md5, source = raw_data_md5(project_path, run_params.get("env"))
        mlflow.set_tags(
            {
                "git_commit": git_commit(project_path),
                "raw_data_md5": md5,
                "raw_data_md5_source": source,
                "kedro_env": run_params.get("env") or "local",
            }
        )

    @hook_impl(trylast=True)  # after kedro-mlflow logged and registered the model
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Apply the promotion gate to the version ds registered; once reporting ran into the
        model's run, make its model card that version's description."""
        if self._run_id is None:
            return
        if not isinstance(pipeline, PipelineML):
            if MODEL_CARD in pipeline.all_outputs():
                self._describe_version(catalog.load(MODEL_CARD))
            return
        promotion = catalog.load("params:promotion")
        client = MlflowClient()
        decision = registry.gate(
            client,
            registry.MODEL_NAME,
            self._run_id,
            min_auc=promotion["min_auc"],
            tolerance=promotion["tolerance"],
            evidence=self._gate_evidence(client, catalog),
            rules=promotion,
        )
        logger.debug("Promotion gate: %s", decision)  # registry.gate logs the outcome itself
        if GATE_DECISION in catalog:  # the model card reports it
            catalog.save(GATE_DECISION, decision.as_record())

    @staticmethod
    def _gate_evidence(client: MlflowClient, catalog: Any) -> registry.GateEvidence:
        """The test split, the candidate's scores of it, and the champion's (gate evidence)."""
        contract = catalog.load(CONTRACT_DATASET)
        test = catalog.load("applicants_test")
        return registry.collect_evidence(
            client,
            registry.MODEL_NAME,
            test[list(contract.feature_names)],
            catalog.load("scored_applicants"),
            test[contract.target.name],
            contract.digest,
        )

    def _describe_version(self, card: str) -> None:
        """The model card as the description of the version this run registered (if any)."""
        client = MlflowClient()
        try:
            version = registry.describe(client, registry.MODEL_NAME, self._run_id, card)
        except (LookupError, MlflowException) as exc:  # a reporting run of its own: no version
            logger.info("model card not set as a version description: %s", exc)
            return
        logger.info("Model card set as the description of %s v%s", registry.MODEL_NAME, version)
