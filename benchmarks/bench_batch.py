"""Batch scoring and monitoring on Dask: 1M and 10M synthetic applicants, LocalCluster of 1 and 2
workers, against one plain process doing exactly a partition's work (check, score with
reasons, write, profile: ``score_partition``) on each row group of the same parquet file.

`python -m benchmarks bench_batch` (or `make bench`). A German-credit model is trained once in a
temporary project copy (`kedro run` ingest, data_engineering, data_science); the books are drawn
by the synthetic generator from the same contract. Rows/s counts every input row (scored or
quarantined); peak memory per worker is each worker process's ru_maxrss after the run.
Goals (issue 20): 10M validated, scored, written and profiled on 2 workers <= 30 s; 2 workers
>= 1.8x one; one worker within 10 % of one plain process; monitoring of that book <= 10 s.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from benchmarks.bench_data_pipelines import GENERATOR_CODE  # the same synthetic book
from benchmarks.common import KEDRO, REPO_ROOT, measure_with_peak, project_copy

# QF_BENCH_BATCH_ROWS=1000000 for a shorter run (with the 10M-row books it takes ~13 min on 2 cores).
ROWS = tuple(int(n) for n in os.environ.get("QF_BENCH_BATCH_ROWS", "1000000,10000000").split(","))
TITLE = f"Batch scoring and monitoring on Dask ({' and '.join(f'{n:,}' for n in ROWS)} synthetic applicants)"
WORKERS = (1, 2)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _engine(workers: int) -> dict:
    cluster = {"n_workers": workers, "threads_per_worker": 1, "processes": True,
               "memory_limit": "4GiB", "dashboard_address": ":0"}  # fmt: skip
    return {"scheduler": None, "local_cluster": cluster}


def _batch_params() -> dict:
    """The shipped `batch_scoring` parameters (partition sizes, retries), as `kedro run` uses."""
    params = REPO_ROOT / "conf" / "base" / "parameters_batch_scoring.yml"
    return yaml.safe_load(params.read_text())["batch_scoring"]


def _dask_run(model: dict, book: Path, output: Path, workers: int) -> tuple[float, dict, list]:
    """Score ``book`` on a fresh LocalCluster; (seconds, manifest, peak MB per worker)."""
    from distributed import Client, LocalCluster  # noqa: PLC0415

    from quantumfinance.pipelines.batch_scoring.nodes import score_book  # noqa: PLC0415

    with LocalCluster(**_engine(workers)["local_cluster"]) as cluster, Client(cluster) as client:
        start = time.perf_counter()
        storage = {"portfolio": str(book), "output": str(output)}
        manifest = score_book(
            model, _batch_params(), storage, {"scheduler": cluster.scheduler_address}
        )
        seconds = time.perf_counter() - start
        peaks = sorted(client.run(_peak_rss_mb).values())
    return seconds, manifest, peaks


def _single_process_run(model: dict, book: Path, staging: Path, arrow_threads: int) -> float:
    """One plain process, the Dask rows' work: ``score_partition`` on each row group, with
    ``arrow_threads`` in Arrow's CPU pool. A Dask worker gets one: its nanny starts it with
    ``OMP_NUM_THREADS=1`` (distributed's ``pre-spawn-environ``), which sizes Arrow's pool."""
    from quantumfinance.pipelines.batch_scoring.nodes import score_partition  # noqa: PLC0415

    default_threads = pa.cpu_count()
    pa.set_cpu_count(arrow_threads)
    try:
        source = pq.ParquetFile(book)
        start = time.perf_counter()
        for group in range(source.num_row_groups):
            part = source.read_row_group(group).to_pandas()
            score_partition(part, group, model, str(staging), {})
        return time.perf_counter() - start
    finally:
        pa.set_cpu_count(default_threads)


def _monitor(model: dict, output: Path, book: Path, root: Path) -> float:
    """Stability + back-test (the book's own target as outcomes) on a 2-worker LocalCluster."""
    from quantumfinance.pipelines.monitoring import nodes  # noqa: PLC0415

    params = yaml.safe_load((root / "conf/base/parameters_monitoring.yml").read_text())
    monitoring = params["monitoring"]
    storage = {"scored_book": str(output)}
    contract = yaml.safe_load((root / "conf/base/applicant_contract.yml").read_text())
    outcomes = root / "outcomes.parquet"
    id_name, target = contract["id"]["name"], contract["target"]["name"]
    table = pq.read_table(book, columns=[id_name, target])
    # The contract's "bad" source values are defaults (1), the rest 0.
    bad = pc.is_in(
        table[target].cast(pa.string()), pa.array(contract["target"]["bad"], pa.string())
    )
    table = pa.table({id_name: table[id_name], "defaulted": pc.cast(bad, pa.int8())})
    pq.write_table(table.append_column("as_of_date", [["2026-10-31"] * len(table)]), outcomes)
    monitoring["outcomes"] = monitoring["outcomes"] | {"path": str(outcomes)}
    start = time.perf_counter()
    manifest = nodes.read_book_manifest(model, storage)
    nodes.stability_figures(nodes.load_development_reference(model), manifest, monitoring)
    nodes.back_test(model, manifest, monitoring, storage, _engine(2))
    return time.perf_counter() - start


def run() -> str:
    from quantumfinance.pipelines.batch_scoring.nodes import resolve_scoring_model  # noqa: PLC0415

    rows_out, seconds_of, peak_mb = [], {}, 0.0
    with tempfile.TemporaryDirectory(prefix="qf-bench-batch-") as tmp:
        root = Path(tmp)
        project_copy(root)
        for stage in ("ingest,data_engineering", "data_science"):
            measure_with_peak([KEDRO, "run", f"--pipelines={stage}"], root)
        uri = f"sqlite:///{root / 'mlflow.db'}"
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        model = resolve_scoring_model("models:/credit-score@champion")
        for rows in ROWS:
            book = root / f"book_{rows}.parquet"
            code = GENERATOR_CODE.format(out=str(book), rows=rows)
            measure_with_peak([sys.executable, "-c", code], root)
            for threads, label in ((1, "one Arrow thread, as a Dask worker"),
                                   (pa.cpu_count(), f"{pa.cpu_count()} Arrow threads")):  # fmt: skip
                single = _single_process_run(
                    model, book, root / f"single_{rows}_{threads}", threads
                )
                seconds_of[rows, 0, threads] = single
                rows_out.append(
                    f"| {rows:,} | one plain process (the same partition work; {label}) | "
                    f"{single:.1f} s | {rows / single:,.0f} | {_peak_rss_mb():,.0f} MB (process) |"
                )
            for workers in WORKERS:
                output = root / f"scored_{rows}_{workers}"
                seconds, manifest, peaks = _dask_run(model, book, output, workers)
                if manifest["rows_in"] != rows:
                    raise RuntimeError(f"read {manifest['rows_in']} of {rows} rows")
                seconds_of[rows, workers], peak_mb = seconds, max(peak_mb, *peaks)
                rows_out.append(
                    f"| {rows:,} | LocalCluster, {workers} worker(s) | {seconds:.1f} s | "
                    f"{rows / seconds:,.0f} | {', '.join(f'{p:,.0f}' for p in peaks)} MB |"
                )
        monitor_seconds = _monitor(model, root / f"scored_{ROWS[-1]}_2", book, root)
    return (
        "| rows | engine | wall time | rows/s | peak memory per worker |\n"
        "|---:|---|---:|---:|---|\n" + "\n".join(rows_out) + "\n\n"
        f"Monitoring (stability + back-test) of the {ROWS[-1]:,}-row book on 2 workers: "
        f"{monitor_seconds:.1f} s.\n\nEvery row does the same work: the scoring runtime's contract "
        "check, scoring with reasons and positive factors (the registered model's artifact, "
        "loaded once per worker), writing partitioned parquet and profiling.\n\n"
        + _goals(seconds_of, monitor_seconds, peak_mb)
    )


def _goals(seconds_of: dict, monitor_seconds: float, peak_mb: float) -> str:
    """Issue 20's goals for the largest book, each with what this run reached."""
    rows = ROWS[-1]
    single, one, two = seconds_of[rows, 0, 1], seconds_of[rows, 1], seconds_of[rows, 2]

    def verdict(ok: bool) -> str:
        return "met" if ok else "not met"

    return "\n".join(
        [
            "| goal | measured | |",
            "|---|---:|---|",
            f"| {rows:,} rows checked, scored (reasons included), written and profiled on 2 "
            f"workers ≤ 30 s | {two:.1f} s | {verdict(two <= 30)} |",
            f"| 2 workers ≥ 1.8× one worker | {one / two:.3f}× | {verdict(one / two >= 1.8)} |",
            f"| one worker within 10 % of one plain process (both one Arrow thread) | "
            f"{one / single:.3f}× | "
            f"{verdict(one <= 1.1 * single)} |",
            f"| monitoring of that book ≤ 10 s | {monitor_seconds:.1f} s | "
            f"{verdict(monitor_seconds <= 10)} |",
            f"| peak memory per worker ≤ 4 GB | {peak_mb / 1024:.1f} GB | "
            f"{verdict(peak_mb <= 4096)} |",
        ]
    )
