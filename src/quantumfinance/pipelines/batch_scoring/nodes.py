"""Nodes of the batch_scoring pipeline: a whole book scored by the registered model on Dask.

Rows in = scored + quarantined. Each partition's columns go to the scoring runtime (the model's
artifact, loaded once per worker), which checks them against the MODEL's contract (vectorised;
failing rows are quarantined with every problem named), scores the rest in chunks, and the
partition is written to a staging folder and profiled for monitoring from the slots the scorer
found. Only when every partition succeeded is the staging folder moved to the output and a
``_SUCCESS`` manifest written last: a book without ``_SUCCESS`` is not a scored book.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from typing import Any

import dask.dataframe as dd
import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa_arrow
import pyarrow.parquet as pq
from distributed import as_completed, get_worker
from fsspec.core import url_to_fs
from mlflow.tracking import MlflowClient

from quantumfinance import progress
from quantumfinance.columns import frame_columns
from quantumfinance.contract import ApplicantContract, contract_of_scoring_model
from quantumfinance.pipelines.data_engineering.nodes import REASONS_COLUMN
from quantumfinance.registry.versions import missing_evidence
from quantumfinance.scoring import Scored, ScoringModel, inspect, score
from quantumfinance.scoring.output import output_arrays
from quantumfinance.scoring.profile import merge_profiles, population_profile

from .engine import dask_client, worker_model

logger = logging.getLogger(__name__)

MARKER = "_SUCCESS"  # written last: the book's manifest (counts and the population profile)
RUN_TAGS = ("quantumfinance.model_run_id", "quantumfinance.model_version")
SCORE_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
# Rows scored at a time inside a partition: a partition of millions of rows is scored and
# written as row groups of this many (bounded memory: the attribution is rows x characteristics).
CHUNK_ROWS = 50_000


# ----------------------------------------------------------------------------- model identity


def resolve_scoring_model(model_uri: str) -> dict[str, str]:
    """Pin ``models:/<name>@<alias>`` (or ``/<version>``) to one version, so all workers load it."""
    if not model_uri.startswith("models:/") or not model_uri.removeprefix("models:/").strip("/"):
        raise ValueError(
            f"batch_scoring.model_uri {model_uri!r}: expected models:/<name>@<alias> or "
            "models:/<name>/<version> (a registered model)"
        )
    reference = model_uri.removeprefix("models:/")
    client = MlflowClient(mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    if "@" in reference:
        name, alias = reference.split("@", 1)
        version = client.get_model_version_by_alias(name, alias)
    else:
        name, number = reference.rsplit("/", 1)
        version = client.get_model_version(name, number)
    missing = missing_evidence(dict(version.tags or {}))
    if missing:
        raise ValueError(
            f"{model_uri}: version {version.version} is an incomplete registration (lacks "
            f"{', '.join(missing)}); run `python -m quantumfinance.registry check`"
        )
    return {
        "requested": model_uri,
        "uri": f"models:/{name}/{version.version}",
        "name": name,
        "version": str(version.version),
        "run_id": version.run_id,
        "tracking_uri": mlflow.get_tracking_uri(),
    }


def tag_run_with_model(scoring_model: dict[str, str]) -> None:
    """Link this run (its own, never the model's) to the model's run and registered version."""
    if mlflow.active_run() is None:
        logger.warning("No active MLflow run: the run is not linked to %s", scoring_model["uri"])
        return
    mlflow.set_tags(
        {
            RUN_TAGS[0]: scoring_model["run_id"],
            RUN_TAGS[1]: scoring_model["version"],
            "quantumfinance.model_name": scoring_model["name"],
            "quantumfinance.model_uri": scoring_model["requested"],
        }
    )


# ----------------------------------------------------------------------------- worker side


def scored_table(
    ids: pa_arrow.Array, model: ScoringModel, scored: Scored, scoring_model: dict[str, str]
) -> pa_arrow.Table:
    """The scored book's rows: id, scores, reasons (Arrow lists as scored), model identity."""
    table = pa_arrow.table({"id": ids, **output_arrays(model, scored)})
    for key in ("name", "version", "run_id"):
        identity = pa_arrow.array([scoring_model[key]] * len(table), type=pa_arrow.string())
        table = table.append_column(f"model_{key}", identity)
    return table


def _numbers_from_text(part: pd.DataFrame, model: ScoringModel) -> pd.DataFrame:
    """A CSV book's numeric columns as numbers; a text that is no number stays text, so the
    contract check names it."""
    typed = {}
    for f in model.features:
        if f.categorical or f.name not in part or part[f.name].dtype.kind in "iuf":
            continue
        text = part[f.name]
        numbers = pd.to_numeric(text, errors="coerce")
        unreadable = text.notna() & numbers.isna()
        typed[f.name] = (
            numbers.astype(object).where(~unreadable, text) if unreadable.any() else numbers
        )
    return part.assign(**typed) if typed else part


def part_name(number: int) -> str:
    """The file of partition ``number`` inside scored/ and quarantined/."""
    return f"part-{number:05d}.parquet"


def _write(table: pa_arrow.Table, folder: str, number: int, storage_options: dict) -> None:
    fs, root = url_to_fs(folder, **storage_options)
    fs.makedirs(root, exist_ok=True)
    with fs.open(f"{root}/{part_name(number)}", "wb") as handle:
        pq.write_table(table, handle)


def _worker_address() -> str:
    try:
        return get_worker().address
    except ValueError:  # not on a Dask worker (a synchronous run in tests or benchmarks)
        return "local"


def score_partition(
    part: pd.DataFrame, number: int, scoring_model: dict[str, str], staging: str, options: dict
) -> dict[str, Any]:
    """Check, score, write and profile one partition; return its counts and profile."""
    model = worker_model(scoring_model["uri"], scoring_model["tracking_uri"])
    contract = contract_of_scoring_model(model)
    raw = _numbers_from_text(part.reset_index(drop=True), model)
    id_name = contract.id.name
    columns = frame_columns(raw, model.feature_names)
    inspection = inspect(model, columns)
    reasons = inspection.reasons(columns, model)
    missing_id = np.flatnonzero(raw[id_name].isna().to_numpy())
    for row in missing_id.tolist():
        reasons[row] = "; ".join(filter(None, [f"{id_name}: is missing", reasons.get(row)]))
    ok = inspection.ok.copy()
    ok[missing_id] = False
    valid = np.flatnonzero(ok)
    ids = pa_arrow.Array.from_pandas(raw[id_name].iloc[valid].reset_index(drop=True))
    fs, root = url_to_fs(f"{staging}/scored", **options)
    fs.makedirs(root, exist_ok=True)
    profiles = []
    with fs.open(f"{root}/{part_name(number)}", "wb") as handle:
        writer = None
        for start in range(0, max(len(valid), 1), CHUNK_ROWS):
            rows = valid[start : start + CHUNK_ROWS]
            scored = score(model, inspection.checked.take(rows))
            table = scored_table(ids[start : start + CHUNK_ROWS], model, scored, scoring_model)
            table = table.rename_columns([id_name, *table.column_names[1:]])
            writer = writer or pq.ParquetWriter(handle, table.schema)
            writer.write_table(table)
            profiles.append(population_profile(model, scored))
        writer.close()
    bad = sorted(reasons)
    quarantined = (
        raw.iloc[bad].astype("string").assign(**{REASONS_COLUMN: [reasons[r] for r in bad]})
    )
    table = pa_arrow.Table.from_pandas(quarantined, preserve_index=False)
    _write(table, f"{staging}/quarantined", number, options)
    failed = {name: len(rows) for name, rows in inspection.failed_fields.items()}
    if len(missing_id):
        failed[id_name] = len(missing_id)
    return {
        "partition": number,
        "worker": _worker_address(),
        "rows_in": len(raw),
        "rows_scored": len(valid),
        "rows_quarantined": len(bad),
        "failed_checks": failed,
        "profile": merge_profiles(profiles),
    }


# ----------------------------------------------------------------------------- driver side


def read_book(portfolio: str, batch: dict[str, Any], options: dict) -> dd.DataFrame:
    """The portfolio as a Dask dataframe (parquet file or folder, or CSV), local or s3://."""
    kind = batch.get("format", "auto")
    if kind == "auto":
        kind = "csv" if ".csv" in portfolio.rsplit("/", 1)[-1] else "parquet"
    if kind == "csv":
        # Text in, as a raw file is: the schema judges each value, typing follows validation.
        book = dd.read_csv(
            portfolio, dtype=object, blocksize=batch.get("blocksize"), storage_options=options
        )
    elif kind == "parquet":
        # Partitions of about `parquet_blocksize` (uncompressed) made of whole row groups, so a
        # single big file is spread over the workers instead of read as one partition.
        book = dd.read_parquet(
            portfolio,
            storage_options=options,
            split_row_groups="adaptive",
            blocksize=batch.get("parquet_blocksize", "8MB"),
        )
    else:
        raise ValueError(f"batch_scoring.format {kind!r}: expected auto, csv or parquet")
    if batch.get("partitions"):
        book = book.repartition(npartitions=int(batch["partitions"]))
    return book


def _check_columns(book: dd.DataFrame, portfolio: str, contract: ApplicantContract) -> None:
    missing = [c for c in (contract.id.name, *contract.feature_names) if c not in book.columns]
    if missing:
        raise ValueError(
            f"{portfolio} is missing column(s) the model needs: {', '.join(missing)} "
            f"(the contract of portfolio '{contract.portfolio.name}')"
        )


def _run_partitions(
    client: Any, book: dd.DataFrame, scoring_model: dict, staging: str, batch: dict, options: dict
) -> list[dict]:
    """Score every partition on the cluster, showing progress; results in partition order.

    ``map_partitions`` fuses reading a partition and scoring it into one task: the applicants
    never leave the worker that read them (as separate tasks, a stolen scoring task had its
    partition shipped across), only the counts and profile come back."""
    results_of = book.map_partitions(
        _score_part,
        scoring_model=scoring_model,
        staging=staging,
        options=options,
        meta={RESULT: object},
        enforce_metadata=False,
    )
    futures = client.compute(results_of.to_delayed(), retries=batch.get("retries", 2))
    results = [
        future.result()[RESULT].iloc[0]
        for future in progress.track(as_completed(futures), "Scoring partitions", len(futures))
    ]
    return sorted(results, key=lambda r: r["partition"])


RESULT = "result"  # the one column of a partition's result frame: its counts and profile


def _score_part(
    part: pd.DataFrame,
    scoring_model: dict[str, str],
    staging: str,
    options: dict,
    partition_info: dict,
) -> pd.DataFrame:
    """``score_partition`` as a map_partitions function (Dask passes the partition's number:
    required, so that no partition could ever be written under another's name)."""
    result = score_partition(part, partition_info["number"], scoring_model, staging, options)
    return pd.DataFrame({RESULT: [result]})


def _quantiles(counts: dict[str, int]) -> dict[str, float]:
    if not counts:
        return {}
    series = pd.Series(counts).rename(index=int).sort_index()
    cumulative = series.cumsum() / series.sum()
    found = {f"p{round(q * 100):02d}": float(series.index[np.searchsorted(cumulative, q)])
             for q in SCORE_QUANTILES}  # fmt: skip
    found["mean"] = float((series.index * series).sum() / series.sum())
    return found


def book_manifest(
    results: list[dict], scoring_model: dict[str, str], portfolio: str, output: str
) -> dict[str, Any]:
    """Counts that must add up, the merged profile, workers used and the score distribution."""
    totals = {k: sum(r[k] for r in results) for k in ("rows_in", "rows_scored", "rows_quarantined")}
    if totals["rows_in"] != totals["rows_scored"] + totals["rows_quarantined"]:
        raise RuntimeError(f"batch scoring lost rows: {totals} (nothing committed)")
    profile = merge_profiles([r["profile"] for r in results])
    failed = sum((Counter(r["failed_checks"]) for r in results), Counter())
    return {
        **totals,
        "portfolio": portfolio,
        "output": output,
        "model": {k: scoring_model[k] for k in ("requested", "uri", "name", "version", "run_id")},
        "partitions": len(results),
        "partitions_per_worker": dict(Counter(r["worker"] for r in results)),
        "failed_checks": dict(failed.most_common()),
        "score_quantiles": _quantiles(profile["score"]),
        "profile": profile,
    }


def commit_book(staging: str, output: str, manifest: dict[str, Any], options: dict) -> None:
    """Replace ``output`` by the staged book, then write the ``_SUCCESS`` manifest last."""
    fs, out = url_to_fs(output, **options)
    _, stage = url_to_fs(staging, **options)
    fs.invalidate_cache()  # the workers wrote the staged files, not this process
    if fs.exists(out):
        fs.rm(out, recursive=True)
    fs.makedirs(out.rsplit("/", 1)[0], exist_ok=True)
    # File by file, the names the partitions wrote: a recursive move of the folder copies what
    # the store lists, and SeaweedFS lists its folders as keys that CopyObject cannot find.
    for folder in ("scored", "quarantined"):
        fs.makedirs(f"{out}/{folder}", exist_ok=True)
    for number in range(manifest["partitions"]):
        for folder in ("scored", "quarantined"):
            name = f"{folder}/{part_name(number)}"
            fs.mv(f"{stage}/{name}", f"{out}/{name}")
    _discard(staging, options)
    with fs.open(f"{out}/{MARKER}", "w") as handle:
        json.dump(manifest, handle, indent=1, default=str)


def _discard(staging: str, options: dict) -> None:
    fs, stage = url_to_fs(staging, **options)
    if fs.exists(stage):
        fs.rm(stage, recursive=True)


def score_book(
    scoring_model: dict[str, str],
    batch: dict[str, Any],
    storage: dict[str, Any],
    engine: dict[str, Any],
) -> dict[str, Any]:
    """Score the whole book on Dask and commit it; on any failure nothing is marked complete."""
    portfolio, output = storage["portfolio"], storage["output"].rstrip("/")
    options = storage.get("storage_options") or {}
    staging = f"{output}.staging-{uuid.uuid4().hex[:8]}"
    contract = contract_of_scoring_model(
        worker_model(scoring_model["uri"], scoring_model["tracking_uri"])
    )
    book = read_book(portfolio, batch, options)
    _check_columns(book, portfolio, contract)
    try:
        with dask_client(engine) as client:
            results = _run_partitions(client, book, scoring_model, staging, batch, options)
        manifest = book_manifest(results, scoring_model, portfolio, output)
        commit_book(staging, output, manifest, options)
    except Exception as exc:
        _discard(staging, options)
        raise RuntimeError(
            f"batch scoring of {portfolio} failed; nothing was committed to {output}: {exc}"
        ) from exc
    logger.info(
        "Scored %d of %d applicants (%d quarantined) into %s",
        manifest["rows_scored"],
        manifest["rows_in"],
        manifest["rows_quarantined"],
        output,
    )
    return manifest


def summarise_book(manifest: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict]]:
    """The run's summary artifact (manifest without bin counts) and its MLflow metrics."""
    profile = manifest["profile"]
    summary = {k: v for k, v in manifest.items() if k != "profile"}
    summary.update(decisions=profile["decision"], bands=profile["band"])
    metrics = {k: manifest[k] for k in ("rows_in", "rows_scored", "rows_quarantined")}
    metrics.update({f"decision_{k}": v for k, v in profile["decision"].items()})
    metrics.update({f"band_{k}": v for k, v in profile["band"].items()})
    metrics.update({f"score_{k}": v for k, v in manifest["score_quantiles"].items()})
    return summary, {k: {"value": float(v), "step": 0} for k, v in metrics.items()}
