-- Decision audit table (the API's PostgresAuditLog writes it; the same DDL runs there with
-- IF NOT EXISTS, so whichever comes first creates it). Runs once, on an empty ./.pgdata, in
-- POSTGRES_DB. One row per scored applicant; request_id joins to the API's response header.
CREATE TABLE IF NOT EXISTS decision_audit (
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
CREATE INDEX IF NOT EXISTS decision_audit_request_id ON decision_audit (request_id);
