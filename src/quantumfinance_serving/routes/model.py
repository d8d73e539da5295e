"""GET /v1/model, GET /v1/model/plots/{name} and POST /v1/admin/reload."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status
from starlette.concurrency import run_in_threadpool

from quantumfinance_serving.deps import AdminKeyId, KeyId, StoreDep
from quantumfinance_serving.model_store import ModelStore, PlotNotFound
from quantumfinance_serving.schemas import ErrorMessage, ModelInfo

router = APIRouter(prefix="/v1", tags=["model"])
PLOTS_PATH = "/v1/model/plots"


def model_info(store: ModelStore) -> dict:
    model = store.get()
    identity = model.identity
    return {
        "name": identity.name,
        "version": identity.version,
        "alias": identity.alias,
        "run_id": identity.run_id,
        "uri": identity.uri,
        "chosen_model": model.scoring.kind,
        "metrics": model.metrics,
        "loaded_at": model.loaded_at,
        "policy": model.policy,
        "last_reload_error": store.last_error or store.check_error,
        "plots": model.plot_paths(PLOTS_PATH),
        "contract": model.contract.as_dict(),
        "contract_digest": model.contract.digest,
        "registry_uri": identity.registry_uri,
        "artifact_digest": identity.artifact_digest,
        **alias_sync(store),
    }


def alias_sync(store: ModelStore) -> dict:
    """The version the followed alias points at (last poll) against the one served, and why
    they differ (the failed reload's or the failed poll's error)."""
    served = store.get().identity
    alias_version = store.alias_version if served.alias else None
    in_sync = not store.lagging
    why = None if in_sync else (store.last_error or store.check_error or "reload pending")
    return {
        "alias_version": alias_version,
        "alias_in_sync": in_sync,
        "alias_out_of_sync_reason": why,
    }


@router.get(
    "/model",
    response_model=ModelInfo,
    responses={401: {"model": ErrorMessage}, 503: {"model": ErrorMessage}},
)
async def get_model(_: KeyId, store: StoreDep) -> dict:
    """The served model: name, registry version, alias, run id, training metrics and the
    applicant contract it carries (the fields /v1/score accepts)."""
    return model_info(store)


@router.get(
    "/model/plots/{name}",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}}, "description": "The plot as PNG"},
        401: {"model": ErrorMessage},
        404: {"model": ErrorMessage, "description": "The served model has no plot of that name"},
        503: {"model": ErrorMessage},
    },
)
async def get_model_plot(name: str, _: KeyId, store: StoreDep) -> Response:
    """One reporting plot (roc, ks, calibration, score_distribution) of the served model's run."""
    try:
        png = store.get().plot(name)
    except PlotNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    return Response(png, media_type="image/png")


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
    """Load QF_MODEL_URI again (e.g. after an alias move) and swap atomically; the new model's
    contract (request schema, /openapi.json) takes effect with it."""
    try:
        await run_in_threadpool(store.reload)
    except Exception as exc:
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            detail=f"reload failed, still serving the previous model: {store.last_error}",
        ) from exc
    return model_info(store)
