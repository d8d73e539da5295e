"""Lineage helpers: content hashes of the bytes a run read, MLflow dataset inputs, run links.

Conventions (docs/decisions/0011-immutable-lineage.md): a training run's tags and params are
written once, by that run. A later step (reporting, batch scoring, monitoring) logs into a run of
its own, tagged ``quantumfinance.model_run_id`` = the training run's id. Git provenance is MLflow's
``mlflow.source.git.commit``; every dataset a run loads from storage is an MLflow dataset input
whose digest is the md5 of the stored object's bytes (what DVC records for a file), read through
the same filesystem and credentials as the Kedro dataset (the S3 object on the stack).
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import subprocess
import warnings
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MODEL_RUN_TAG = "quantumfinance.model_run_id"  # on every run that works on a trained model
MODEL_RUN_ENV = "QF_MODEL_RUN_ID"  # names that training run for a later step (run_all, tests)
STEP_TAG = "quantumfinance.step"  # the pipeline(s) a run ran: training, reporting, ...
GIT_COMMIT_TAG = "mlflow.source.git.commit"  # MLflow's own provenance field
GIT_DIRTY_TAG = "quantumfinance.git_dirty"
ENV_TAG = "kedro_env"
HOST_TAG, PID_TAG = "quantumfinance.host", "quantumfinance.pid"  # who runs it: stale-run sweep
MODEL_DIGEST_TAG = "quantumfinance.model_sha256"  # model version tag: digest of its artifacts
# What a run is doing now (nodes, model_logging, registration, ...; "complete" once all is done):
# a run whose process died keeps the stage it died in, which the sweep names as its failed step.
STAGE_TAG, COMPLETE = "quantumfinance.stage", "complete"
FAILED_STEP_TAG = "quantumfinance.failed_step"  # the node or stage a FAILED run failed in
FAILED_REASON_TAG = "quantumfinance.failed_reason"
CHUNK = 1 << 20


def md5_of_stream(handle: Any) -> str:
    """md5 hex digest of everything read from a binary file object."""
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in iter(lambda: handle.read(CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def stored_md5(filepath: str, credentials: dict[str, Any] | None = None) -> str:
    """md5 of the object at ``filepath`` (local path or any fsspec URL, e.g. ``s3://``)."""
    from fsspec.core import url_to_fs  # noqa: PLC0415 - s3fs etc. only for a remote path

    fs, path = url_to_fs(filepath, **dict(credentials or {}))
    # fsspec shares one filesystem per set of options, with its listings cache: what another
    # dataset of this process wrote since then is not in it. The stored object is asked again.
    fs.invalidate_cache(path)
    with fs.open(path, "rb") as handle:
        return md5_of_stream(handle)


# Written by MLflow into a `models:/name/version` download (name and version): not the model's.
REGISTRY_META_FILE = "registered_model_meta"


def directory_sha256(folder: Path) -> str:
    """sha256 over a directory's files (relative path and sha256 of each, sorted): the digest
    of a model's artifacts as served, the same whichever version or URI they were fetched by."""
    lines = []
    files = (p for p in Path(folder).rglob("*") if p.is_file())
    for path in sorted(p for p in files if p.relative_to(folder).as_posix() != REGISTRY_META_FILE):
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda h=handle: h.read(CHUNK), b""):
                digest.update(chunk)
        lines.append(f"{path.relative_to(folder).as_posix()}\t{digest.hexdigest()}")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def git_provenance(project_path: Path) -> tuple[str, bool]:
    """HEAD commit of the project (else of the package's checkout) and whether it has changes."""
    for folder in (project_path, Path(__file__).resolve().parent):
        try:
            sha = _git(folder, "rev-parse", "HEAD")
            dirty = bool(_git(folder, "status", "--porcelain", "--untracked-files=no"))
        except (OSError, subprocess.CalledProcessError):
            continue
        return sha, dirty
    return "unknown", False


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=folder, capture_output=True, text=True, check=True
    ).stdout.strip()


def dataset_location(catalog: Any, name: str) -> tuple[str, dict[str, Any]] | None:
    """(filepath, fsspec credentials) of a file-backed catalog dataset; None for memory/params.

    Uses the catalog's public ``to_config`` (after ``get`` materialises a factory entry)."""
    catalog.get(name)
    config, credentials, _, _ = catalog.to_config()
    entry = config.get(name) or {}
    filepath = entry.get("filepath") or entry.get("path")
    if not filepath and isinstance(entry.get("dataset"), dict):  # wrapped (e.g. MLflow artifact)
        filepath = entry["dataset"].get("filepath")
    if not filepath:
        return None
    creds = entry.get("credentials")
    if isinstance(creds, str):
        creds = credentials.get(creds, {})
    return str(filepath), dict(creds or {})


def log_dataset_input(name: str, filepath: str, digest: str, context: str) -> None:
    """One MLflow dataset input of the active run: name, source (the URL read) and digest."""
    import mlflow  # noqa: PLC0415
    from mlflow.data.dataset_source_registry import resolve_dataset_source  # noqa: PLC0415
    from mlflow.data.meta_dataset import MetaDataset  # noqa: PLC0415

    source_uri = filepath if "://" in filepath else Path(filepath).resolve().as_uri()
    with warnings.catch_warnings():
        # MLflow registers its local-file source twice (for the "" and the "file" artifact
        # schemes, both LocalArtifactRepository) and warns that a file:// URI matches both;
        # the two are the same class of source, so the choice it makes is the right one.
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        source = resolve_dataset_source(source_uri)
    dataset = MetaDataset(source=source, name=name, digest=digest)
    mlflow.log_input(dataset, context=context)


def linked_model_run_id(client: Any, model_name: str) -> str | None:
    """The training run a later step reports on: $QF_MODEL_RUN_ID, else the run of the newest
    registered version (None when nothing is registered)."""
    if os.environ.get(MODEL_RUN_ENV):
        return os.environ[MODEL_RUN_ENV]
    versions = client.search_model_versions(f"name='{model_name}'")
    if not versions:
        return None
    return max(versions, key=lambda v: int(v.version)).run_id


def runner_tags() -> dict[str, str]:
    """Host and pid of this process: lets the next start tell a dead run from a live one."""
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def process_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_orphaned_runs(client: Any, experiment_id: str, current_run_id: str | None) -> list[str]:
    """Mark FAILED the runs of this host whose process is gone before they were complete: still
    RUNNING (cut off by a backend outage or a kill), or FINISHED by the run's owner but cut off
    in a later stage (e.g. during the model's registration); return their ids. The stage they
    were in becomes their failed step. Runs of other hosts are left alone."""
    host = socket.gethostname()
    mine = f"tags.`{HOST_TAG}` = '{host}'"
    candidates = [
        *client.search_runs(
            [experiment_id], filter_string=f"attributes.status = 'RUNNING' and {mine}"
        ),
        *client.search_runs(
            [experiment_id],
            filter_string=f"attributes.status = 'FINISHED' and tags.`{STAGE_TAG}` != '{COMPLETE}' "
            f"and {mine}",
        ),
    ]
    orphaned = []
    for run in candidates:
        pid = run.data.tags.get(PID_TAG, "")
        if run.info.run_id == current_run_id or not pid.isdigit() or process_alive(int(pid)):
            continue
        stage = run.data.tags.get(STAGE_TAG, "unknown")
        mark_failed(client, run.info.run_id, stage, "process ended mid-run")
        orphaned.append(run.info.run_id)
    if orphaned:
        logger.warning("marked FAILED runs whose process died mid-run: %s", ", ".join(orphaned))
    return orphaned


def set_stage(client: Any, run_id: str, stage: str) -> None:
    """Record what the run is doing now (the sweep's failed step if its process dies in it)."""
    client.set_tag(run_id, STAGE_TAG, stage)


def mark_failed(client: Any, run_id: str, step: str, reason: str) -> None:
    """End a run FAILED, naming the node or stage it failed in and why."""
    from mlflow.entities import RunTag  # noqa: PLC0415

    tags = [RunTag(FAILED_STEP_TAG, step[:5000]), RunTag(FAILED_REASON_TAG, reason[:5000])]
    client.log_batch(run_id, tags=tags)
    client.set_terminated(run_id, status="FAILED")


def model_run_env_set() -> bool:
    """True when $QF_MODEL_RUN_ID names the training run a step works on."""
    return bool(os.environ.get(MODEL_RUN_ENV))


class LineageRewriteError(RuntimeError):
    """A run's lineage tag would be overwritten with another value."""


def write_once(client: Any, run_id: str, tags: dict[str, str]) -> None:
    """Write a run's lineage tags at its start; refuse a run that already has them (a later step
    resuming someone else's run would rewrite its lineage)."""
    from mlflow.entities import RunTag  # noqa: PLC0415

    existing = client.get_run(run_id).data.tags
    if STEP_TAG in existing:
        raise LineageRewriteError(
            f"run {run_id} already holds the lineage of step {existing[STEP_TAG]!r}: a later step "
            f"logs into a run of its own, tagged {MODEL_RUN_TAG}; it never resumes another run"
        )
    client.log_batch(run_id, tags=[RunTag(key, value) for key, value in tags.items()])


def linked_runs(client: Any, model_run_id: str, step: str | None = None) -> list[Any]:
    """Finished runs linked to a training run (newest first), optionally of one step only."""
    experiment_id = client.get_run(model_run_id).info.experiment_id
    query = f"tags.`{MODEL_RUN_TAG}` = '{model_run_id}' and attributes.status = 'FINISHED'"
    if step:
        query += f" and tags.`{STEP_TAG}` = '{step}'"
    return list(
        client.search_runs(
            [experiment_id], filter_string=query, order_by=["attributes.start_time DESC"]
        )
    )
