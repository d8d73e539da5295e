"""/openapi.json (and /docs) with the served model's request schema.

FastAPI builds the OpenAPI document once from the routes; the applicant's fields, however, are
the served model's contract, which is known only after the model loads and changes when another
model is swapped in. So the document is rebuilt whenever the served model changes, and its
`Applicant` / `BatchRequest` schemas are the model's (a placeholder that says so before a model
is loaded).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from quantumfinance_serving.model_store import LoadedModel, ModelStore
from quantumfinance_serving.schemas import NO_MODEL_SCHEMAS

REF_TEMPLATE = "#/components/schemas/{model}"
BODIES = {"/v1/score": "Applicant", "/v1/score/batch": "BatchRequest"}
UNSUPPORTED_MEDIA_TYPE = {
    "description": "Content-Type is not application/json",
    "content": {
        "application/json": {"schema": {"$ref": REF_TEMPLATE.format(model="ErrorMessage")}}
    },
}


def request_schemas(model: LoadedModel | None, max_batch: int) -> dict[str, dict[str, Any]]:
    """`Applicant` and `BatchRequest` JSON schemas of the served model (placeholders if none)."""
    if model is None:
        schemas = copy.deepcopy(NO_MODEL_SCHEMAS)
    else:
        schemas = model.request_schema.json_schemas(REF_TEMPLATE)
    schemas["BatchRequest"]["properties"]["applicants"].update(minItems=1, maxItems=max_batch)
    return schemas


def _describe_model(model: LoadedModel | None) -> str:
    if model is None:
        return (
            "\n\n**No model is loaded yet**: the request schema (`Applicant`) is the served "
            "model's applicant contract and is filled in once `GET /ready` answers 200."
        )
    identity, contract = model.identity, model.contract
    version = f"version {identity.version}" if identity.version else identity.uri
    return (
        f"\n\nServing **{identity.name}** {version}, portfolio **{contract.portfolio.name}** "
        f"(contract `{contract.digest[:12]}`). The request schema below is that model's "
        "applicant contract; it changes when another model is loaded."
    )


def served_openapi(app: FastAPI, store: ModelStore, max_batch: int) -> Callable[[], dict]:
    """A replacement for `app.openapi`: the document of the model served now, cached per model."""
    lock = threading.Lock()
    cache: dict[str, Any] = {"model": object(), "document": None}

    def openapi() -> dict[str, Any]:
        model = store.current
        with lock:
            if cache["model"] is model:
                return cache["document"]
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=(app.description or "") + _describe_model(model),
                routes=app.routes,
            )
            for path in BODIES:  # JsonBodyMiddleware (http_policy.py), before the route
                document["paths"][path]["post"]["responses"]["415"] = UNSUPPORTED_MEDIA_TYPE
            schemas = request_schemas(model, max_batch)
            document.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
            if model is not None:
                example = model.contract.example_applicant()
                examples = {"Applicant": example, "BatchRequest": {"applicants": [example]}}
                for path, schema in BODIES.items():
                    body = document["paths"][path]["post"]["requestBody"]
                    body["content"]["application/json"]["example"] = examples[schema]
            cache.update(model=model, document=document)
            app.openapi_schema = document
            return document

    return openapi
