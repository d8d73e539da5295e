"""The Dask engine of batch scoring and monitoring: which cluster, and the model on each worker.

``QF_DASK_SCHEDULER`` (or the ``scheduler`` parameter) names an existing scheduler, e.g. the
stack's ``tcp://127.0.0.1:8786``; unset, a ``LocalCluster`` is started in the process and closed
afterwards. The scheduler's dashboard URL is logged so an operator can watch the work.

The registered model's scoring artifact is loaded ONCE per worker process (a cache keyed by tracking and model
URI), never per partition: partitions call ``worker_model`` and get the loaded one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from distributed import Client, LocalCluster
from mlflow.tracking import MlflowClient

from quantumfinance.registry import download_version
from quantumfinance.scoring import ScoringModel
from quantumfinance.scoring.stored import load_scoring_model

SCHEDULER_ENV = "QF_DASK_SCHEDULER"
logger = logging.getLogger(__name__)

_MODELS: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()
MODEL_LOADS: Counter[str] = Counter()  # "tracking URI model URI" -> loads in this process


def scheduler_address(scheduler: str | None) -> str | None:
    """The scheduler to join: the parameter, else ``QF_DASK_SCHEDULER``, else None (local)."""
    return scheduler or os.environ.get(SCHEDULER_ENV) or None


@contextmanager
def dask_client(engine: dict[str, Any]) -> Iterator[Client]:
    """A client of the configured scheduler, or of a LocalCluster started for the block."""
    address = scheduler_address(engine.get("scheduler"))
    cluster = None if address else LocalCluster(**engine.get("local_cluster", {}))
    client = Client(address or cluster, timeout=engine.get("connect_timeout", "30s"))
    workers = len(client.scheduler_info().get("workers", {}))
    logger.info(
        "Dask: %s scheduler %s, %d worker(s); dashboard %s",
        "existing" if address else "local",
        client.scheduler.address,
        workers,
        client.dashboard_link,
    )
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def worker_model(model_uri: str, tracking_uri: str) -> ScoringModel:
    """The scoring runtime's model of ``model_uri``, loaded once per process (thread-safe):
    the registered model's artifact read as arrays, no pipeline or library objects."""
    key = (tracking_uri, model_uri)
    with _LOCK:
        if key not in _MODELS:
            # Through a client of ``tracking_uri``, never MLflow's process-global URIs (a
            # threaded worker shares them with the caller's session). ``model_uri`` is pinned
            # by resolve_scoring_model: models:/<name>/<version>.
            name, version = model_uri.removeprefix("models:/").rsplit("/", 1)
            client = MlflowClient(tracking_uri, tracking_uri)
            _MODELS[key] = load_scoring_model(download_version(client, name, version))
            MODEL_LOADS[f"{tracking_uri} {model_uri}"] += 1
        return _MODELS[key]


def model_loads() -> dict[str, int]:
    """How often this process loaded each model (``client.run(model_loads)`` asks every worker)."""
    return dict(MODEL_LOADS)
