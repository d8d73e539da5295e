"""Request and response shapes.

The applicant (request) schema is not written here: it is generated from the applicant contract
the served model carries (``request_schema(contract)``), so the API accepts exactly the model's
inputs whatever the portfolio. Responses do not depend on the portfolio and are plain models.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from quantumfinance.contract import ApplicantContract, Characteristic

# Integer bounds beyond int64 would pass validation and then overflow the model's long column.
_INT64 = (-(2**63), 2**63 - 1)


def _bounds_text(characteristic: Characteristic, low: float, high: float) -> str:
    unit = f" {characteristic.unit}" if characteristic.unit else ""
    return f"{_number(low)}–{_number(high)}{unit}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _description(characteristic: Characteristic) -> str:
    """The contract's description, plus the range, the category labels and how to send 'missing'."""
    text = characteristic.description or characteristic.title
    if characteristic.type == "integer":
        text += f" (whole number, {_bounds_text(characteristic, *_int_bounds(characteristic))})"
    elif characteristic.type == "float":
        text += f" ({_bounds_text(characteristic, characteristic.minimum, characteristic.maximum)})"
    if characteristic.category_labels:
        labels = "; ".join(f"{k!r}: {v}" for k, v in characteristic.category_labels.items())
        text += f". Values: {labels}"
    if characteristic.nullable:
        text += ". May be null or left out when unknown"
    return text


def _int_bounds(characteristic: Characteristic) -> tuple[int, int]:
    low = max(math.ceil(characteristic.minimum), _INT64[0])
    high = min(math.floor(characteristic.maximum), _INT64[1])
    return low, high


def _field_type(characteristic: Characteristic) -> Any:
    """The pydantic type of one characteristic: categories as Literal, bounds as ge/le.

    Numbers are strict: "35" is a type error, not a silent cast; an integer also refuses 35.5
    (and 35.0), a float accepts a JSON integer but never NaN or infinity. Nullable ones accept
    null and may be left out (missing, as the model's signature marks them not required).
    """
    common = {
        "title": characteristic.title,
        "description": _description(characteristic),
        "examples": [characteristic.default_example],
    }
    if characteristic.is_categorical:
        kind: Any = Literal[characteristic.categories]  # type: ignore[valid-type]
        constraints: dict[str, Any] = {}
    elif characteristic.type == "integer":
        kind = int
        low, high = _int_bounds(characteristic)
        constraints = {"strict": True, "ge": low, "le": high}
    else:
        kind = float
        constraints = {
            "strict": True,
            "allow_inf_nan": False,
            "ge": characteristic.minimum,
            "le": characteristic.maximum,
        }
    if not characteristic.nullable:
        return Annotated[kind, Field(**common, **constraints)]
    value = Annotated[kind, Field(**constraints)] if constraints else kind
    return NotRequired[Annotated[value | None, Field(**common)]]


@dataclass(frozen=True)
class RequestSchema:
    """The published request bodies of one contract (OpenAPI). The bodies themselves are
    checked by the scoring runtime (bodies.py): these schemas say what that check enforces.

    The applicant is a TypedDict, not a BaseModel: a contract may name a column ``json``,
    ``copy`` or ``_code``, which a BaseModel field cannot be.
    """

    contract: ApplicantContract
    applicant: TypeAdapter
    batch: TypeAdapter

    @property
    def digest(self) -> str:
        return self.contract.digest

    def json_schemas(self, ref_template: str) -> dict[str, dict[str, Any]]:
        """``Applicant`` and ``BatchRequest`` JSON schemas, the batch referring to the applicant."""
        batch = self.batch.json_schema(ref_template=ref_template)
        definitions = batch.pop("$defs")
        return {"Applicant": definitions["Applicant"], "BatchRequest": batch}


_SCHEMAS: dict[str, RequestSchema] = {}
_SCHEMAS_LOCK = threading.Lock()


def request_schema(contract: ApplicantContract) -> RequestSchema:
    """The request schema of a contract, built once per contract digest."""
    with _SCHEMAS_LOCK:
        schema = _SCHEMAS.get(contract.digest)
        if schema is None:
            schema = _SCHEMAS[contract.digest] = _build_request_schema(contract)
        return schema


def _build_request_schema(contract: ApplicantContract) -> RequestSchema:
    applicant = TypedDict(  # type: ignore[misc]
        "Applicant", {c.name: _field_type(c) for c in contract.features}
    )
    applicant.__pydantic_config__ = ConfigDict(  # type: ignore[attr-defined]
        extra="forbid",  # an unknown field is an error, not silently dropped
        title="Applicant",
        json_schema_extra={
            "description": f"One applicant of the portfolio '{contract.portfolio.name}': the "
            f"{len(contract.features)} inputs of the served model's applicant contract.",
            "examples": [contract.example_applicant()],
        },
    )
    # Functional syntax: with postponed annotations a class body could not see `applicant`.
    batch = TypedDict(  # type: ignore[misc]  # noqa: UP013
        "BatchRequest",
        {"applicants": Annotated[list[applicant], Field(description=BATCH_DESCRIPTION)]},
    )
    batch.__pydantic_config__ = ConfigDict(  # type: ignore[attr-defined]
        extra="forbid",
        title="BatchRequest",
        json_schema_extra={
            "description": "Several applicants scored in one call, results in the same order."
        },
    )
    return RequestSchema(contract, TypeAdapter(applicant), TypeAdapter(batch))


BATCH_DESCRIPTION = "Applicants to score (1 to QF_MAX_BATCH)"

# What /openapi.json says for the request bodies while no model is loaded.
NO_MODEL_SCHEMAS: dict[str, dict[str, Any]] = {
    "Applicant": {
        "title": "Applicant",
        "type": "object",
        "description": "No model is loaded yet: the applicant's fields are the inputs of the "
        "served model's applicant contract and appear here once GET /ready answers 200.",
    },
    "BatchRequest": {
        "title": "BatchRequest",
        "type": "object",
        "properties": {
            "applicants": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/Applicant"},
                "description": BATCH_DESCRIPTION,
            }
        },
        "required": ["applicants"],
        "additionalProperties": False,
        "description": "Several applicants scored in one call, results in the same order.",
    },
}


class ReasonCode(BaseModel):
    code: str = Field(description="Reason code (the characteristic)")
    text: str = Field(description="Plain-language explanation for this applicant")
    points: float | None = Field(
        None,
        description="Score points lost against the characteristic's best group (reason code) "
        "or gained (positive factor); null from models that do not report them",
    )


class ModelRef(BaseModel):
    name: str
    version: str | None = Field(description="Registry version (null for a model loaded by path)")


Decision = Literal["approve", "review", "decline"]


class ScoreResult(BaseModel):
    pd: Annotated[float, Field(ge=0, le=1, description="Probability of default")]
    score: int = Field(description="Scorecard points (higher is better)")
    band: str = Field(description="Risk band")
    decision: Decision
    reason_codes: list[ReasonCode] = Field(max_length=4, description="Ranked, at most 4")
    positive_factors: list[ReasonCode] = Field(
        default_factory=list,
        description="What raised the score most, ranked (empty from models that do not report "
        "them)",
    )


class ScoreResponse(ScoreResult):
    model: ModelRef
    request_id: str


class BatchResponse(BaseModel):
    model: ModelRef
    request_id: str
    results: list[ScoreResult] = Field(description="One result per applicant, in request order")


class ModelInfo(BaseModel):
    name: str
    version: str | None
    alias: str | None
    run_id: str | None
    uri: str
    chosen_model: str = Field(
        description="Which candidate decides: scorecard, challenger, blend or baseline (the "
        "selection rule's choice at training)"
    )
    metrics: dict[str, float] = Field(description="Training-run metrics (test AUC, KS, ...)")
    loaded_at: str
    policy: dict[str, Any] | None = Field(
        None,
        description="The model's own decision policy, set at training for its portfolio: score "
        "bands best first (floor `min_score` and the calibrated PD it stands for, `max_pd`), the "
        "decision per band and how the floors were derived (`derived_from`)",
    )
    last_reload_error: str | None = Field(
        None, description="Why the latest reload failed (the model above keeps serving)"
    )
    plots: dict[str, str] = Field(
        default_factory=dict,
        description="Reporting plots of the model's run: title -> API path of the PNG "
        "(GET it with the same x-api-key); a plot the run did not log is absent",
        examples=[{"ROC curve": "/v1/model/plots/roc"}],
    )
    contract: dict[str, Any] = Field(
        description="The applicant contract the model carries: its inputs (`characteristics` "
        "with `use_in_model` not false), their types, bounds, categories and texts. The request "
        "schema of /v1/score is generated from it."
    )
    contract_digest: str = Field(
        description="SHA-256 of the contract's canonical JSON: changes exactly when it does"
    )
    registry_uri: str | None = Field(None, description="Registry the version belongs to")
    artifact_digest: str | None = Field(None, description="SHA-256 of the served artifacts")
    alias_version: str | None = Field(
        None, description="Version the followed alias pointed at when last checked"
    )
    alias_in_sync: bool = Field(True, description="False when the served version is not it")
    alias_out_of_sync_reason: str | None = Field(None, description="Why they differ")


class Status(BaseModel):
    status: str = Field(description="ok, ready, degraded, loading or unavailable")
    detail: str | None = None


class ErrorMessage(BaseModel):
    detail: Any


class ValidationProblem(BaseModel):
    """One bad field (pydantic's error item, without the input echoed back)."""

    model_config = ConfigDict(extra="allow")  # `ctx` (e.g. the bound) when pydantic gives one
    loc: list[str | int] = Field(
        description='Where: ["body", <field>], or ["body", "applicants", <row>, <field>]'
    )
    msg: str
    type: str


class ValidationFailure(BaseModel):
    detail: list[ValidationProblem]
