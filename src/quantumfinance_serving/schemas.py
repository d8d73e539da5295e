"""Request and response shapes. The applicant model is generated from the applicant contract."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from quantumfinance.applicant_schema import CHARACTERISTICS, Characteristic, example_applicant


def _field(characteristic: Characteristic) -> tuple[Any, Any]:
    """The pydantic type and Field of one characteristic: categories as Literal, bounds as ge/le."""
    if characteristic.is_categorical:
        annotation: Any = Literal[characteristic.categories]  # type: ignore[valid-type]
        return annotation, Field(
            description=characteristic.description, examples=[characteristic.example]
        )
    return int, Field(
        strict=True,  # "35" or 35.5 is a type error, not a silent cast
        ge=characteristic.minimum,
        le=characteristic.maximum,
        description=f"{characteristic.description} ({characteristic.minimum}–"
        f"{characteristic.maximum})",
        examples=[characteristic.example],
    )


class _ApplicantBase(BaseModel):
    # Unknown fields are an error, not silently dropped; floats like 2.5 are refused for ints (strict).
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [example_applicant()]},
    )


Applicant = create_model(
    "Applicant",
    __base__=_ApplicantBase,
    __doc__="One credit applicant: the 20 characteristics of the data dictionary.",
    **{c.name: _field(c) for c in CHARACTERISTICS},
)


class BatchRequest(BaseModel):
    """Several applicants scored in one call, results in the same order."""

    model_config = ConfigDict(extra="forbid")
    applicants: list[Applicant] = Field(  # type: ignore[valid-type]
        description="Applicants to score (1 to QF_MAX_BATCH)"
    )


class ReasonCode(BaseModel):
    code: str = Field(description="Adverse-action reason code")
    text: str = Field(description="Plain-language explanation")


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
    metrics: dict[str, float] = Field(description="Training-run metrics (test AUC, KS, ...)")
    loaded_at: str
    policy: dict[str, Any] | None = Field(
        None, description="The model's own decision policy (score bands, decision per band)"
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


class Status(BaseModel):
    status: str
    detail: str | None = None


class ErrorMessage(BaseModel):
    detail: Any
