"""GET /v1/model and POST /v1/admin/reload."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from starlette.concurrency import run_in_threadpool

from quantumfinance_serving.deps import AdminKeyId, KeyId, StoreDep
from quantumfinance_serving.model_store import ModelStore
from quantumfinance_serving.schemas import ErrorMessage, ModelInfo

router = APIRouter(prefix="/v1", tags=["model"])


def model_info(store: ModelStore) -> dict:
    model = store.get()
    identity = model.identity
    return {
        "name": identity.name,
        "version": identity.version,
        "alias": identity.alias,
        "run_id": identity.run_id,
        "uri": identity.uri,
        "metrics": model.metrics,
        "loaded_at": model.loaded_at,
        "policy": model.policy,
        "last_reload_error": store.last_error or store.check_error,
    }


@router.get(
    "/model",
    response_model=ModelInfo,
    responses={401: {"model": ErrorMessage}, 503: {"model": ErrorMessage}},
)
def get_model(_: KeyId, store: StoreDep) -> dict:
    """The served model: name, registry version, alias, run id and training metrics."""
    return model_info(store)


@router.post(
    "/admin/reload",
    response_model=ModelInfo,
    responses={
        401: {"model": ErrorMessage},
        403: {"model": ErrorMessage},
        502: {"model": ErrorMessage, "description": "Reload failed; the old model keeps serving"},
    },
)
async def reload_model(_: AdminKeyId, store: StoreDep) -> dict:
    """Load QF_MODEL_URI again (e.g. after an alias move) and swap atomically."""
    try:
        await run_in_threadpool(store.reload)
    except Exception as exc:
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            detail=f"reload failed, still serving the previous model: {store.last_error}",
        ) from exc
    return model_info(store)
