"""A concise run log: one line per node with its time, the pipeline's total, the model logging.

Kedro's own per-node INFO lines (loading, saving, running, completed) are silenced in
conf/logging.yml; these hooks say the same in one short line per node, so a captured log stays
readable and never wraps.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl

logger = logging.getLogger("quantumfinance.run")


def _pipeline_names(run_params: dict[str, Any]) -> str:
    """`data_science` (or the names given with --pipelines), `__default__` when none."""
    names = run_params.get("pipeline_names") or [run_params.get("pipeline_name")]
    return ", ".join(str(n) for n in names if n) or "__default__"


class RunLogHooks:
    """Pipeline start and end, and one timed line per node as it completes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        self._done = 0
        self._total = 0
        self._run_start = 0.0
        self._names = ""
        self.model_logging_start: float | None = None

    @hook_impl(trylast=True)  # after kedro-mlflow started the run
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any) -> None:
        """Say what runs: the pipelines, the env, the number of nodes and the MLflow run."""
        self._run_start, self._done, self._total = time.perf_counter(), 0, len(pipeline.nodes)
        self._names = _pipeline_names(run_params)
        env = run_params.get("env") or "local"
        logger.info("Running %s (env %s): %d nodes", self._names, env, self._total)
        run = mlflow.active_run()
        if run:
            logger.info("MLflow run %s", run.info.run_id)

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        """Remember when the node started."""
        with self._lock:
            self._started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        """`[3/12] fit_woe_binning: 1.2 s`."""
        with self._lock:
            self._done += 1
            seconds = time.perf_counter() - self._started.pop(node.name, time.perf_counter())
            logger.info("[%d/%d] %s: %.1f s", self._done, self._total, node.name, seconds)

    @hook_impl
    def on_node_error(self, error: Exception, node: Any) -> None:
        """The failing node and how long it ran (Kedro logs the error itself)."""
        seconds = time.perf_counter() - self._started.pop(node.name, time.perf_counter())
        logger.error("%s failed after %.1f s: %s", node.name, seconds, type(error).__name__)

    @hook_impl(tryfirst=True)  # before kedro-mlflow logs the model, which takes a while
    def after_pipeline_run(self, pipeline: Any) -> None:
        """The pipeline's total; announce the model logging that follows a ds run."""
        seconds = time.perf_counter() - self._run_start
        logger.info("%s: %d nodes done in %.1f s", self._names, self._done, seconds)
        # kedro-mlflow logs a model after a `pipeline_ml_factory` pipeline (it has an inference).
        if hasattr(pipeline, "inference"):
            logger.info("Logging and registering the model in MLflow...")
            self.model_logging_start = time.perf_counter()


class ModelLoggedHooks:
    """How long logging the model took, once kedro-mlflow and the promotion gate are done."""

    def __init__(self, run_log: RunLogHooks) -> None:
        self._run_log = run_log

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        """`Model logged in 9.8 s`."""
        start = self._run_log.model_logging_start
        if start is not None:
            logger.info("Model logged in %.1f s", time.perf_counter() - start)
            self._run_log.model_logging_start = None
