"""Project hooks: lineage on every MLflow run (written once), and the promotion gate after ``ds``.

See quantumfinance.lineage and docs/decisions/0011-immutable-lineage.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl
from kedro.io import DatasetError
from kedro_mlflow.pipeline.pipeline_ml import PipelineML
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from quantumfinance import lineage, registry
from quantumfinance.contract import ContractError
from quantumfinance.data_versions import MANIFEST_RUN_TAG as DATA_MANIFEST_RUN_TAG
from quantumfinance.pipeline_registry import RUN_ORDER
from quantumfinance.pipelines.data_science.pipeline import log_model_kwargs_for

logger = logging.getLogger(__name__)


CONTRACT_DATASET = "applicant_contract"
MODEL_CARD = "model_card"
GATE_DECISION = "promotion_decision"  # written after the gate; read by the model card


def step_name(pipeline_names: list[str]) -> str:
    """The step tag of a run: its pipelines in run order. Kedro hands `--pipelines a,b` over in
    no fixed order (it varies between processes), so the tag is not taken as given."""
    known = {name: i for i, name in enumerate(RUN_ORDER)}
    return ",".join(sorted(pipeline_names, key=lambda n: (known.get(n, len(known)), n)))


class ProvenanceAndPromotionHooks:
    """Checks the applicant contract first; writes each run's lineage once (git commit, env,
    step, link to the model's run, a dataset input per dataset read); describes the logged model
    by the contract; runs the promotion gate once a model is logged."""

    def __init__(self) -> None:
        self._run_id: str | None = None
        self._model_run_id: str | None = None  # the training run a later step works on
        self._catalog: Any = None
        self._inputs: set[str] = set()  # free inputs of the pipeline (others: read back)
        self._logged: set[str] = set()
        self._context = "input"

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
        """Write the run's lineage tags (once) and fail runs orphaned by a dead process; give
        the model that ds logs its signature and input example from the env's contract."""
        training = isinstance(pipeline, PipelineML)
        if training and CONTRACT_DATASET in catalog:
            pipeline.log_model_kwargs.update(log_model_kwargs_for(catalog.load(CONTRACT_DATASET)))
        run = mlflow.active_run()
        self._run_id = run.info.run_id if run else None
        self._model_run_id = None
        self._catalog, self._logged = catalog, set()
        self._inputs = {n for n in pipeline.inputs() if not n.startswith("params:")} - {
            "parameters"
        }
        if run is None:
            return
        client = MlflowClient()
        lineage.fail_orphaned_runs(client, run.info.experiment_id, self._run_id)
        step = step_name(run_params.get("pipeline_names") or ["__default__"])
        self._context = "training" if training else step
        sha, dirty = lineage.git_provenance(Path(run_params.get("project_path") or "."))
        tags = {
            lineage.GIT_COMMIT_TAG: sha,
            lineage.GIT_DIRTY_TAG: str(dirty).lower(),
            lineage.ENV_TAG: run_params.get("env") or "local",
            lineage.STEP_TAG: "training" if training else step,
            **lineage.runner_tags(),
        }
        if not training and (MODEL_CARD in pipeline.all_outputs() or lineage.model_run_env_set()):
            self._model_run_id = lineage.linked_model_run_id(client, registry.MODEL_NAME)
            if self._model_run_id:
                tags[lineage.MODEL_RUN_TAG] = self._model_run_id
        lineage.write_once(client, self._run_id, tags)
        self._log_ingest_source(run_params, pipeline, catalog)

    def _log_ingest_source(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """The applicant file ingest reads (a path in its parameters, not a catalog entry)."""
        if "params:ingest" not in pipeline.inputs():
            return
        ingest = catalog.load("params:ingest")
        if ingest.get("source") != "file" or not ingest.get("path"):
            return
        path = Path(ingest["path"])
        if not path.is_absolute() and "://" not in ingest["path"]:
            path = Path(run_params.get("project_path") or ".") / path
        try:
            source = str(path) if path.exists() else ingest["path"]
            digest = lineage.stored_md5(source)
            lineage.log_dataset_input("ingest_source", source, digest, "source")
        except (OSError, ValueError, MlflowException) as exc:
            self._record_gap("ingest_source", exc)

    def _record_gap(self, name: str, exc: Exception) -> None:
        """A dataset whose lineage could not be taken: warned and tagged, never silent."""
        logger.warning("no lineage for dataset %s: %s", name, exc)
        MlflowClient().set_tag(self._run_id, f"quantumfinance.lineage_gap.{name}", str(exc)[:500])

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any, node: Any) -> None:
        """Record every dataset the run read from storage as an MLflow dataset input, with the
        md5 of the stored bytes (the S3 object on the stack) as its digest; once per dataset.
        Context: the step (``training`` for ds) for the pipeline's inputs, ``intermediate`` for
        what it wrote earlier and read back."""
        if self._run_id is None or dataset_name.startswith("params:"):
            return
        if dataset_name in self._logged or dataset_name == "parameters":
            return
        self._logged.add(dataset_name)
        try:
            location = lineage.dataset_location(self._catalog, dataset_name)
            if location is None:
                return
            filepath, credentials = location
            if Path(filepath).is_dir():  # a folder (e.g. partitions): no single object
                logger.info("dataset %s is a folder: not recorded as an input", dataset_name)
                return
            # Hashed here, after the load, from the bytes as stored now. (Taking the md5 the
            # data-versions hook recorded before the load saved a read, but on the stack a run
            # that overwrote then re-read an object was seen recording the previous version.)
            digest = lineage.stored_md5(filepath, credentials)
            context = self._context if dataset_name in self._inputs else "intermediate"
            lineage.log_dataset_input(dataset_name, filepath, digest, context)
        except Exception as exc:  # noqa: BLE001 - a lineage gap is recorded, the run goes on
            self._record_gap(dataset_name, exc)

    @hook_impl(trylast=True)  # after kedro-mlflow logged the model (unregistered)
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Register the model ds logged, all-or-nothing: remove versions a cut-off registration
        left, compute the artifacts' digest and the gate's decision, then create the version
        with them as tags in one call. After reporting, make its model card the linked
        version's description."""
        if self._run_id is None:
            return
        if not isinstance(pipeline, PipelineML):
            if MODEL_CARD in pipeline.all_outputs() and self._model_run_id:
                self._describe_version(catalog.load(MODEL_CARD))
            return
        client = MlflowClient()
        lineage.set_stage(client, self._run_id, "registration")
        for line in registry.check(client, registry.MODEL_NAME, remove=True).splitlines():
            if not line.startswith("every version"):
                logger.warning("Incomplete registration: %s", line)
        contract = catalog.load(CONTRACT_DATASET)
        candidate = registry.logged_candidate(
            client,
            self._run_id,
            pipeline.log_model_kwargs["name"],
            contract.digest,
            client.get_run(self._run_id).data.tags.get(DATA_MANIFEST_RUN_TAG, ""),
        )
        promotion = catalog.load("params:promotion")
        decision = registry.register(
            client,
            registry.MODEL_NAME,
            candidate,
            min_auc=promotion["min_auc"],
            tolerance=promotion["tolerance"],
            evidence=self._gate_evidence(client, catalog),
            rules=promotion,
        )
        logger.debug("Promotion gate: %s", decision)  # registry.register logs the outcome itself
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
        """The model card as the description of the version the linked training run registered."""
        client = MlflowClient()
        try:
            version = registry.describe(client, registry.MODEL_NAME, self._model_run_id, card)
        except (LookupError, MlflowException) as exc:  # the linked run registered no version
            logger.info("model card not set as a version description: %s", exc)
            return
        logger.info("Model card set as the description of %s v%s", registry.MODEL_NAME, version)


class TruthfulRunHooks:
    """Any failure after the MLflow run started ends it FAILED, naming the failing node or
    stage (``quantumfinance.failed_step``): a node, the run's start, the model logging after
    the nodes (kedro-mlflow's hook, whose errors Kedro does not pass to ``on_pipeline_error``)
    or the registration. ``quantumfinance.stage`` says what the run is doing meanwhile, so the
    next run's sweep (lineage.fail_orphaned_runs) can name the stage a killed process died in."""

    def __init__(self) -> None:
        self._run_id: str | None = None
        self._failed_node: str | None = None
        # Dataset loads and saves under way: Kedro loads a node's inputs and saves its outputs
        # outside the node's own call, so their failures reach no ``on_node_error``.
        self._io: dict[tuple[str, str, str], None] = {}

    def _fail(self, step: str, error: BaseException) -> None:
        """End this process's run FAILED with the step; MLflow's exit hook must not then end
        it FINISHED, so the active run is closed too. A dead backend: the sweep does it later."""
        reason = f"{type(error).__name__}: {error}"
        try:
            if self._run_id:
                lineage.mark_failed(MlflowClient(), self._run_id, step, reason)
            while mlflow.active_run():
                mlflow.end_run("FAILED")
        except Exception as exc:  # noqa: BLE001 - the original error is the one to raise
            logger.warning("could not mark run %s FAILED at %s: %s", self._run_id, step, exc)

    @hook_impl(wrapper=True)
    def before_pipeline_run(self, pipeline: Any) -> Any:
        """Stage ``nodes`` once every start hook ran; a start hook that fails fails the run."""
        self._run_id, self._failed_node = None, None
        self._io.clear()
        try:
            result = yield
            run = mlflow.active_run()
            self._run_id = run.info.run_id if run else None
            if self._run_id:
                lineage.set_stage(MlflowClient(), self._run_id, "nodes")
        except Exception as error:
            run = mlflow.active_run()
            self._run_id = run.info.run_id if run else None
            self._fail("run_start", error)
            raise
        return result

    @hook_impl
    def on_node_error(self, node: Any) -> None:
        """Remember the failing node (kedro-mlflow ends the run in ``on_pipeline_error``)."""
        self._failed_node = node.name

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str, node: Any) -> None:
        self._io[(node.name, "load", dataset_name)] = None

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, node: Any) -> None:
        self._io.pop((node.name, "load", dataset_name), None)

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, node: Any) -> None:
        self._io[(node.name, "save", dataset_name)] = None

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node: Any) -> None:
        self._io.pop((node.name, "save", dataset_name), None)

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        """Name the failing node on the run that kedro-mlflow ends FAILED: the node whose code
        raised, else the node whose input load or output save did not finish."""
        step = self._failed_node
        if step is None and self._io:
            node, action, dataset = next(iter(self._io))
            step = f"{node} ({action} {dataset})"
        self._fail(step or "nodes", error)

    @hook_impl(wrapper=True)
    def after_pipeline_run(self, pipeline: Any) -> Any:
        """Around every end hook: data manifest + model logging (kedro-mlflow), registration
        (ProvenanceAndPromotionHooks); ``complete`` only when all of them succeeded."""
        if self._run_id is None:
            return (yield)
        step = "model_logging" if isinstance(pipeline, PipelineML) else "finishing"
        client = MlflowClient()
        try:
            lineage.set_stage(client, self._run_id, step)
            result = yield
            lineage.set_stage(client, self._run_id, lineage.COMPLETE)
        except Exception as error:
            try:  # the stage a later end hook reached (e.g. registration)
                step = client.get_run(self._run_id).data.tags.get(lineage.STAGE_TAG, step)
            except Exception:  # noqa: BLE001, S110 - backend down: the step this hook set
                pass
            self._fail(step, error)
            raise
        return result
