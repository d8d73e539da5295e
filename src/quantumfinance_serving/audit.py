"""Append-only audit log of decisions: a JSONL file (embedded default) or a PostgreSQL table.

A write that fails raises AuditError, which the API turns into a 503: a decision that could not
be recorded is never returned.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from pydantic_core import to_json

logger = logging.getLogger(__name__)

AUDIT_FIELDS = (
    "request_id",
    "row",
    "key_id",
    "model_name",
    "model_version",
    "registry_uri",
    "model_run_id",
    "model_digest",
    "contract_digest",
    "input_sha256",
    "pd",
    "score",
    "band",
    "decision",
    "decided_at",
)


def audit_lineage(model: Any) -> dict[str, str | None]:
    """What ties a decision to its model: the registry the version number belongs to, the
    training run (-> git commit, dataset inputs), the digest of the artifacts as loaded and the
    applicant contract's digest (docs/operations.md walks from a request id to the data hash)."""
    identity = model.identity
    return {
        "registry_uri": identity.registry_uri,
        "model_run_id": identity.run_id,
        "model_digest": identity.artifact_digest,
        "contract_digest": model.contract.digest,
    }


class AuditError(RuntimeError):
    """The decision could not be recorded."""


def input_hasher(feature_names: Sequence[str]) -> Callable[[dict[str, Any]], str]:
    """The audit hash of one model's inputs: SHA-256 of ``str()`` of each feature value in
    contract order (a missing value is ``None``), joined by the unit separator (cheap, stable)."""
    if not feature_names:
        raise ValueError("a model without input features cannot be audited")
    # map(get) + map(str) stay in C; a nullable input left out of the body hashes as None.
    names = tuple(feature_names)

    def input_hash(applicant: dict[str, Any]) -> str:
        joined = "\x1f".join(map(str, map(applicant.get, names)))
        return hashlib.sha256(joined.encode()).hexdigest()

    return input_hash


class AuditLog(Protocol):
    def append(self, records: list[dict[str, Any]]) -> None: ...

    def check(self) -> None:
        """Raise AuditError when a record could not be written now (used by /ready)."""

    def close(self) -> None: ...


class JsonlAuditLog:
    """One JSON object per line, appended and flushed before the response is sent."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, records: list[dict[str, Any]]) -> None:
        text = b"".join(to_json(r) + b"\n" for r in records)
        try:
            with self._lock, open(self.path, "ab") as sink:
                sink.write(text)
        except OSError as exc:
            raise AuditError(f"audit log {self.path} is not writable: {exc}") from exc

    def check(self) -> None:
        """Open the file for appending (writes nothing): AuditError when that fails."""
        try:
            with self._lock, open(self.path, "ab"):
                pass
        except OSError as exc:
            raise AuditError(f"audit log {self.path} is not writable: {exc}") from exc

    def close(self) -> None:
        return None


class PostgresAuditLog:
    """Rows in table `decision_audit`, written with COPY on one connection (reconnects)."""

    TABLE = "decision_audit"
    DDL = f"""
        CREATE TABLE IF NOT EXISTS {TABLE} (
            id bigserial PRIMARY KEY,
            request_id text NOT NULL,
            row integer NOT NULL,
            key_id text NOT NULL,
            model_name text NOT NULL,
            model_version text,
            registry_uri text,
            model_run_id text,
            model_digest char(64),
            contract_digest char(64),
            input_sha256 char(64) NOT NULL,
            pd double precision NOT NULL,
            score integer NOT NULL,
            band text NOT NULL,
            decision text NOT NULL,
            decided_at timestamptz NOT NULL
        );
        CREATE INDEX IF NOT EXISTS {TABLE}_request_id ON {TABLE} (request_id);
        -- a table created before decisions carried their lineage gains the columns
        ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS registry_uri text;
        ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS model_run_id text;
        ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS model_digest char(64);
        ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS contract_digest char(64);
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn.replace("postgresql+psycopg://", "postgresql://")
        self._lock = threading.Lock()
        self._conn: Any = None

    def _connection(self) -> Any:
        import psycopg  # noqa: PLC0415

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, connect_timeout=5, autocommit=False)
            with self._conn.transaction():
                self._conn.execute(self.DDL)
        return self._conn

    def append(self, records: list[dict[str, Any]]) -> None:
        columns = ", ".join(AUDIT_FIELDS)
        with self._lock:
            try:
                conn = self._connection()
                with conn.transaction(), conn.cursor() as cur:
                    with cur.copy(f"COPY {self.TABLE} ({columns}) FROM STDIN") as copy:
                        for record in records:
                            copy.write_row([record[name] for name in AUDIT_FIELDS])
            except Exception as exc:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                raise AuditError(f"audit table {self.TABLE} is not writable: {exc}") from exc

    def check(self) -> None:
        """Connect (or reuse the connection) and ask for insert rights: AuditError otherwise."""
        with self._lock:
            try:
                conn = self._connection()
                allowed = conn.execute(
                    "SELECT has_table_privilege(%s, 'INSERT')", (self.TABLE,)
                ).fetchone()[0]
                conn.rollback()
            except Exception as exc:
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                raise AuditError(f"audit table {self.TABLE} is not writable: {exc}") from exc
        if not allowed:
            raise AuditError(f"audit table {self.TABLE} is not writable: no INSERT privilege")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def open_audit_log(path: Path, dsn: str | None) -> AuditLog:
    """PostgreSQL when a DSN is configured, else the JSONL file."""
    return PostgresAuditLog(dsn) if dsn else JsonlAuditLog(path)
