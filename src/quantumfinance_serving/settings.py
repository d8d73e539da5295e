"""The one settings object of the scoring API, read from `QF_*` environment variables."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can tune; MLflow itself is located by MLFLOW_TRACKING_URI."""

    model_config = SettingsConfigDict(env_prefix="QF_", extra="ignore")

    model_uri: str = "models:/credit-score@champion"
    # `key_id:sha256hex` pairs, comma separated: only hashes are ever configured.
    api_keys: str = ""
    admin_key_ids: str = ""
    rate_limit: str = "60/minute"
    rate_limit_storage: str = "memory://"
    # Failed key checks allowed per client address before 429 (slows key guessing).
    auth_failure_limit: str = "20/minute"
    max_batch: int = Field(10_000, ge=1)
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    reload_interval_seconds: float = Field(30.0, ge=0)  # 0 switches alias polling off
    audit_path: Path = Path("data/09_audit/decisions.jsonl")
    audit_dsn: str | None = None  # PostgreSQL DSN; when set it replaces the JSONL file
    docs_enabled: bool = True
    fast_path: bool = True  # run the inference pipeline's nodes directly (proven equal by tests)
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(1, ge=1)
    log_level: str = "info"

    @field_validator("api_keys", "admin_key_ids")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @cached_property
    def key_hashes(self) -> dict[str, str]:
        """Key id -> lower-case SHA-256 hex digest of the key."""
        hashes: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in self.api_keys.split(","))):
            key_id, sep, digest = item.partition(":")
            digest = digest.strip().lower()
            if not sep or not key_id or len(digest) != 64 or not _is_hex(digest):
                raise ValueError(
                    f"QF_API_KEYS entry {item[:20]!r}... must be 'key_id:<64 hex chars of sha256>'"
                )
            hashes[key_id.strip()] = digest
        return hashes

    @cached_property
    def admin_ids(self) -> frozenset[str]:
        return frozenset(filter(None, (p.strip() for p in self.admin_key_ids.split(","))))


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True
