"""Backup of the metadata store: pg_dump of MLflow's database, pg_restore into a fresh one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from quantumfinance.stack import Stack
from tests.integration.conftest import query

pytestmark = pytest.mark.stack

RUNS = "SELECT run_uuid, status, experiment_id FROM runs ORDER BY run_uuid"
VERSIONS = "SELECT name, version, run_id, source FROM model_versions ORDER BY name, version"
ALIASES = "SELECT name, alias, version FROM registered_model_aliases ORDER BY name, alias"


def pg_tool(stack: Stack, tool: str, *args: str) -> None:
    """A client tool of the server's own version (pg_dump refuses newer servers)."""
    pg = stack.postgres
    cmd = [str(pg.bin_dir / tool), "-h", "127.0.0.1", "-p", str(pg.port), "-U", pg.user, *args]
    env = {**os.environ, "PGPASSWORD": pg.password}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, f"{tool} failed:\n{proc.stderr}"


def test_dump_restored_into_a_fresh_database_has_the_same_runs_and_versions(
    stack: Stack, stack_project, tmp_path: Path
) -> None:
    dump = tmp_path / "mlflow.dump"
    pg_tool(stack, "pg_dump", "--format=custom", f"--file={dump}", "mlflow")
    assert dump.stat().st_size > 0
    stack.postgres.create_database("mlflow_restored")
    pg_tool(
        stack, "pg_restore", "--no-owner", "--exit-on-error", "-d", "mlflow_restored", str(dump)
    )

    original = [query(stack, sql) for sql in (RUNS, VERSIONS, ALIASES)]
    restored = [query(stack, sql, database="mlflow_restored") for sql in (RUNS, VERSIONS, ALIASES)]
    assert original[0] and original[1], "nothing to compare: no runs or model versions"
    assert restored == original
