"""GET /v1/monitoring: the latest monitoring run per version of the served model, from MLflow.

The monitoring pipeline logs ``monitoring/monitoring_summary.json`` into its own run, tagged
with the model's name, version and training run; this route finds the newest such run per
version and returns its summary (status per figure, back-test, score distributions).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, status
from starlette.concurrency import run_in_threadpool

from quantumfinance_serving.deps import KeyId, StoreDep
from quantumfinance_serving.schemas import ErrorMessage

router = APIRouter(prefix="/v1", tags=["monitoring"])
logger = logging.getLogger(__name__)

SUMMARY_ARTIFACT = "monitoring/monitoring_summary.json"
NAME_TAG, VERSION_TAG, STATUS_TAG = (
    "quantumfinance.model_name",
    "quantumfinance.model_version",
    "quantumfinance.monitoring_status",
)
MAX_RUNS = 200  # newest monitoring runs looked at


def latest_monitoring(model_name: str) -> list[dict[str, Any]]:
    """The newest monitoring run's summary per model version (newest version first)."""
    from mlflow import MlflowClient  # noqa: PLC0415 - heavy import, as the model store does

    client = MlflowClient()
    where = f"tags.`{NAME_TAG}` = '{model_name}' and tags.`{STATUS_TAG}` != ''"
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        experiments, where, max_results=MAX_RUNS, order_by=["attributes.start_time DESC"]
    )
    latest: dict[str, Any] = {}
    for run in runs:
        latest.setdefault(run.data.tags[VERSION_TAG], run)
    found = []
    with tempfile.TemporaryDirectory(prefix="qf-monitoring-") as tmp:
        for number, run in sorted(latest.items(), key=lambda item: -int(item[0])):
            path = client.download_artifacts(run.info.run_id, SUMMARY_ARTIFACT, tmp)
            summary = json.loads(Path(path).read_text(encoding="utf-8"))
            found.append(
                {"model_version": number, "run_id": run.info.run_id,
                 "started_at": run.info.start_time, **summary}
            )  # fmt: skip
    return found


@router.get(
    "/monitoring",
    responses={
        401: {"model": ErrorMessage},
        503: {"model": ErrorMessage, "description": "No model loaded, or MLflow unreachable"},
    },
)
async def get_monitoring(
    _: KeyId,
    store: StoreDep,
) -> dict:
    """Latest monitoring run per version of the served model: status, figures with thresholds,
    back-test and score distributions (development sample vs book)."""
    name = store.get().identity.name
    try:
        runs = await run_in_threadpool(latest_monitoring, name)
    except Exception as exc:
        logger.warning("monitoring runs of %s unavailable: %s", name, exc)
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"monitoring runs unavailable: {exc}"
        ) from exc
    return {"model_name": name, "runs": runs}
