"""HTTP client for the QuantumFinance scoring API, with one typed error per failure the UI explains.

The front end never imports the model or the Kedro package's scoring code: everything it shows
comes through this client, so the demo shows exactly what a loan system would receive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

SCORE_PATH = "/v1/score"
BATCH_PATH = "/v1/score/batch"
MODEL_PATH = "/v1/model"


@dataclass(frozen=True)
class FieldError:
    """One validation problem reported by the API (FastAPI's `detail` item, flattened)."""

    field: str
    message: str
    row: int | None = None  # index within the request's batch, None for a single applicant


class ApiError(Exception):
    """Any failure talking to the API; `str(error)` is a message fit for a loan officer and
    `operator_detail` what the IT operator needs (URL, status, configuration to check)."""

    status_code: int | None = None

    def __init__(self, message: str, operator_detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.operator_detail = operator_detail


class ApiUnavailable(ApiError):
    """The API cannot be reached (not running, wrong URL, network down, timed out)."""


class Unauthorized(ApiError):
    """401: the API key is missing, wrong or revoked."""

    status_code = 401


class PayloadTooLarge(ApiError):
    """413: the request body is over the API's size limit."""

    status_code = 413


class ValidationFailed(ApiError):
    """422: the API rejected one or more fields; `errors` names each one."""

    status_code = 422

    def __init__(self, message: str, errors: Sequence[FieldError]) -> None:
        super().__init__(message)  # the fields are the whole story: nothing for IT support
        self.errors = list(errors)


class RateLimited(ApiError):
    """429: too many requests for this key; `retry_after` is the wait in seconds (if given)."""

    status_code = 429

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message, "HTTP 429: the key's rate limit (QF_RATE_LIMIT) is reached")
        self.retry_after = retry_after


class NotReady(ApiError):
    """503: the API is up but has no model loaded (yet)."""

    status_code = 503


class ContractUnavailable(ApiError):
    """The API answers but publishes no (valid) applicant contract for its model."""


class ServerError(ApiError):
    """Any other unexpected status from the API."""

    def __init__(self, message: str, status_code: int, operator_detail: str | None = None) -> None:
        super().__init__(message, operator_detail or f"HTTP {status_code} from the scoring API")
        self.status_code = status_code


@dataclass
class ScoringClient:
    """Thin wrapper over the scoring API's endpoints; raises `ApiError` subclasses on failure."""

    base_url: str
    api_key: str | None = None
    timeout: float = 30.0
    session: requests.Session = field(default_factory=requests.Session, repr=False)

    def health(self) -> dict[str, Any]:
        """Liveness: the process answers."""
        return self._request("GET", "/health", auth=False)

    def ready(self) -> dict[str, Any]:
        """Readiness: a model is loaded (503 → NotReady otherwise)."""
        return self._request("GET", "/ready", auth=False)

    def model_info(self) -> dict[str, Any]:
        """The served model: name, version, alias, run id, metrics, its applicant `contract`."""
        return self._request("GET", MODEL_PATH)

    def score(self, applicant: dict[str, Any]) -> dict[str, Any]:
        """Score one applicant."""
        return self._request("POST", SCORE_PATH, json=applicant)

    def score_batch(self, applicants: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Score many applicants in one call (the API's batch envelope)."""
        return self._request("POST", BATCH_PATH, json={"applicants": list(applicants)})

    def monitoring(self) -> dict[str, Any]:
        """The latest monitoring run per version of the served model (GET /v1/monitoring)."""
        return self._request("GET", "/v1/monitoring")

    def get_bytes(self, path: str) -> bytes:
        """Fetch a binary resource the API serves (e.g. a reporting plot)."""
        response = self._send("GET", path, auth=True)
        return response.content

    def _request(
        self, method: str, path: str, *, auth: bool = True, json: Any = None
    ) -> dict[str, Any]:
        response = self._send(method, path, auth=auth, json=json)
        try:
            return response.json()
        except ValueError as exc:
            raise ServerError(
                f"The API answered {path} with something that is not JSON.", response.status_code
            ) from exc

    def _send(self, method: str, path: str, *, auth: bool, json: Any = None) -> requests.Response:
        headers = {"x-api-key": self.api_key} if auth and self.api_key else {}
        url = self.base_url.rstrip("/") + path
        try:
            response = self.session.request(
                method, url, json=json, headers=headers, timeout=self.timeout
            )
        except requests.Timeout as exc:
            raise ApiUnavailable(
                "The scoring service did not answer in time. Please try again.",
                f"{url} did not answer within {self.timeout:.0f} s",
            ) from exc
        except requests.RequestException as exc:
            raise ApiUnavailable(
                "The scoring service cannot be reached right now. Please try again later.",
                f"{url} cannot be reached ({type(exc).__name__}): is the API running?",
            ) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response


def error_from_response(response: requests.Response) -> ApiError:
    """Map an error response to the typed error the UI knows how to explain."""
    status = response.status_code
    if status == 401:
        return Unauthorized(
            "This screen's access key was refused, so nothing can be scored. Please contact "
            "your IT support.",
            f"HTTP 401 from {response.url}: set a valid key in QF_API_KEY or the app's secrets "
            "(api_key).",
        )
    if status == 413:
        return PayloadTooLarge(
            "The file is too large to score in one go. Send fewer applicants.",
            f"HTTP 413 from {response.url}",
        )
    if status == 422:
        errors = field_errors(_json_or_none(response))
        names = ", ".join(sorted({e.field for e in errors})) or "unknown field"
        return ValidationFailed(f"The API rejected the input ({names}).", errors)
    if status == 429:
        retry_after = _seconds(response.headers.get("Retry-After"))
        wait = f" Try again in {retry_after:.0f} s." if retry_after is not None else ""
        return RateLimited(f"Too many requests for this API key.{wait}", retry_after)
    if status == 503:
        body = _json_or_none(response)
        detail = body.get("detail") if isinstance(body, dict) else None
        return NotReady(
            "The scoring service is starting or has no model loaded yet. Try again in a minute.",
            f"HTTP 503 from {response.url}" + (f": {detail}" if detail else ""),
        )
    return ServerError("The scoring service failed unexpectedly. Please try again.", status)


def field_errors(body: Any) -> list[FieldError]:
    """Flatten FastAPI's `detail` list (`loc`, `msg`) into per-field (and per-row) errors."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return [FieldError(field="request", message=detail)]
    if not isinstance(detail, list):
        return []
    errors = []
    for item in detail:
        if not isinstance(item, dict):
            continue
        loc = [part for part in item.get("loc", []) if part not in ("body", "applicants")]
        row = next((p for p in loc if isinstance(p, int)), None)
        names = [str(p) for p in loc if not isinstance(p, int)]
        errors.append(
            FieldError(
                field=names[-1] if names else "request",
                message=str(item.get("msg", "invalid value")),
                row=row,
            )
        )
    return errors


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
