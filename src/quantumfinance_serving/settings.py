"""The one settings object of the scoring API, read from `QF_*` environment variables.

Every value is checked when the settings are built (so `python -m quantumfinance_serving` stops
at start-up with one line per problem, naming the variable), not at the first request.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "QF_"
# QF_* variables read by other parts of the project (front end, pipelines, stack, tests,
# benchmarks): not typos of the API's settings.
OTHER_COMPONENTS = frozenset(
    {
        "QF_API_URL",
        "QF_API_KEY",
        "QF_MLFLOW_RUN_ID",
        "QF_POSTGRES_DSN",
        "QF_S3_ENDPOINT_URL",
        "QF_DASK_SCHEDULER",
        "QF_REQUIRE_ALL",
        "QF_UPDATE_SCREENSHOTS",
    }
)
OTHER_PREFIXES = ("QF_STACK_", "QF_BENCH_")
STORAGE_SCHEMES = ("memory", "redis", "rediss", "redis+sentinel", "redis+cluster", "memcached")


class Settings(BaseSettings):
    """Everything an operator can tune; MLflow itself is located by MLFLOW_TRACKING_URI."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    model_uri: str = Field(
        "models:/credit-score@champion",
        description="models:/<name>@<alias>, models:/<name>/<version> or a model directory",
    )
    api_keys: str = Field(
        "", description="comma-separated key_id:sha256hex (hashes only, never plain keys)"
    )
    admin_key_ids: str = Field("", description="key ids allowed to POST /v1/admin/reload")
    rate_limit: str = Field(
        "60/minute", description="per-key moving-window limit of every /v1/* route"
    )
    rate_limit_storage: str = Field(
        "memory://", description="memory:// or redis://host:port (shared by several workers)"
    )
    auth_failure_limit: str = Field(
        "20/minute", description="failed key checks per client address before 429"
    )
    trusted_proxies: str = Field(
        "", description="comma-separated addresses/networks whose X-Forwarded-For is believed"
    )
    max_batch: int = Field(10_000, ge=1, description="applicants per /v1/score/batch call")
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="request body cap (413)")
    max_header_bytes: int = Field(
        16 * 1024, ge=1024, le=1024 * 1024, description="request line + headers cap (431/400)"
    )
    max_header_count: int = Field(100, ge=10, le=10_000, description="request header fields cap")
    keep_alive_timeout_seconds: float = Field(
        5.0, gt=0, le=300, description="close a connection idle this long (no request under way)"
    )
    head_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=300,
        description="close a connection whose request head is incomplete this long",
    )
    body_timeout_seconds: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="close a connection whose request body is incomplete this long after its "
        "head (408): a body trickled in holds no connection for ever",
    )
    max_connections: int = Field(
        1000, ge=8, le=100_000, description="open connections (or requests) beyond which it is 503"
    )
    cors_origins: str = Field(
        "", description="comma-separated origins allowed by CORS; empty: no cross-origin access"
    )
    reload_interval_seconds: float = Field(
        30.0, ge=0, description="alias polling interval; 0 switches it off"
    )
    audit_path: Path = Field(
        Path("data/09_audit/decisions.jsonl"), description="JSONL audit file (no QF_AUDIT_DSN)"
    )
    audit_dsn: str | None = Field(None, description="postgresql:// DSN of the audit table")
    docs_enabled: bool = Field(True, description="serve /docs, /redoc and /openapi.json")
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="serve /metrics on this port (no key); unset: needs a key"
    )
    host: str = Field("127.0.0.1", description="address to bind")
    port: int = Field(8000, ge=1, le=65535, description="port to bind")
    workers: int = Field(1, ge=1, description="uvicorn worker processes")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    log_format: Literal["text", "json"] = Field("text", description="text or json (JSON lines)")

    @field_validator("api_keys", "admin_key_ids", "trusted_proxies", "cors_origins", mode="before")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip() if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower() if isinstance(value, str) else value

    @field_validator("rate_limit", "auth_failure_limit")
    @classmethod
    def _limit_syntax(cls, value: str) -> str:
        from limits import parse_many  # noqa: PLC0415

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a rate limit; write e.g. '60/minute' or '10 per second'"
            ) from None
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _storage_scheme(cls, value: str) -> str:
        scheme = value.partition("://")[0]
        if "://" not in value or scheme not in STORAGE_SCHEMES:
            raise ValueError(f"{value!r} must start with one of {', '.join(STORAGE_SCHEMES)}://")
        return value

    @field_validator("audit_dsn")
    @classmethod
    def _dsn_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgresql://", "postgresql+psycopg://")):
            raise ValueError("must be a postgresql:// DSN")
        return value or None

    @field_validator("model_uri")
    @classmethod
    def _model_uri(cls, value: str) -> str:
        if value.startswith("models:"):
            from quantumfinance_serving.model_uri import parse_model_uri  # noqa: PLC0415

            parse_model_uri(value)  # ValueError names the accepted forms
        elif "://" in value and not value.startswith("file://"):
            raise ValueError(f"{value!r}: use models:/<name>@<alias> or a model directory")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in filter(None, (part.strip() for part in value.split(","))):
            scheme, sep, rest = origin.partition("://")
            if scheme not in ("http", "https") or not sep or not rest or "/" in rest or "*" in rest:
                raise ValueError(
                    f"{origin[:80]!r} is not an origin; write scheme://host[:port], e.g. "
                    "https://desk.example.com (no path, no wildcard)"
                )
        return value

    @field_validator("api_keys")
    @classmethod
    def _key_list(cls, value: str) -> str:
        parse_key_hashes(value)  # ValueError with the offending entry (shortened)
        return value

    @model_validator(mode="after")
    def _admins_are_keys(self) -> Settings:
        unknown = sorted(self.admin_ids - set(self.key_hashes))
        if unknown:
            raise ValueError(f"QF_ADMIN_KEY_IDS names key ids not in QF_API_KEYS: {unknown}")
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError("QF_METRICS_PORT must differ from QF_PORT")
        return self

    @cached_property
    def key_hashes(self) -> dict[str, str]:
        """Key id -> lower-case SHA-256 hex digest of the key."""
        return parse_key_hashes(self.api_keys)

    @cached_property
    def admin_ids(self) -> frozenset[str]:
        return frozenset(filter(None, (p.strip() for p in self.admin_key_ids.split(","))))

    @cached_property
    def proxy_networks(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @cached_property
    def allowed_origins(self) -> list[str]:
        return [p.strip() for p in self.cors_origins.split(",") if p.strip()]


def parse_key_hashes(api_keys: str) -> dict[str, str]:
    """`key_id:sha256hex,...` -> {key_id: digest}; ValueError naming the bad entry."""
    hashes: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in api_keys.split(","))):
        key_id, sep, digest = item.partition(":")
        digest = digest.strip().lower()
        if not sep or not key_id.strip() or len(digest) != 64 or not _is_hex(digest):
            # Name the entry by its key id only: what follows may be a plain key pasted by mistake.
            raise ValueError(
                f"the entry of key id {key_id.strip()[:40]!r} must be 'key_id:<64 hex chars of "
                "sha256>' (mint one with python -m quantumfinance_serving.keys new <key_id>)"
            )
        if key_id.strip() in hashes:
            raise ValueError(f"key id {key_id.strip()!r} appears twice")
        hashes[key_id.strip()] = digest
    return hashes


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def problems(exc: ValidationError) -> list[str]:
    """One line per invalid setting, naming its environment variable."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        message = error["msg"].removeprefix("Value error, ")
        if error["loc"]:
            lines.append(f"{env_name(str(error['loc'][0]))}: {message}")
        else:
            lines.append(message)
    return lines


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """A warning per QF_* variable that no part of the project reads (a typo, most likely)."""
    environ = os.environ if environ is None else environ
    known = {env_name(name) for name in Settings.model_fields}
    warnings = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known or upper in OTHER_COMPONENTS:
            continue
        if upper.startswith(OTHER_PREFIXES):
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.append(f"{name} is not a setting of the API and is ignored{hint}")
    return warnings
