"""ingest + data_engineering on 1,000,000 synthetic applicants, and the generator at 10,000,000.

Both run as child processes in a temporary project copy, so the repository's data/ is untouched.
Peak RSS is taken per run by a tiny wrapper (RUSAGE_CHILDREN of a fresh process), so figures of
earlier benchmarks in the same `python -m benchmarks` process cannot leak into these.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

from benchmarks.common import KEDRO, measure_with_peak, project_copy

TITLE = "Data pipelines: ingest + data_engineering (1M synthetic rows), generator (10M rows)"
PIPELINE_ROWS = 1_000_000
GENERATOR_ROWS = 10_000_000
# The default portfolio's contract, its example table (ingest.path) as the reference, as
# `ingest.source: synthetic` draws them; run in the project copy.
GENERATOR_CODE = """
from pathlib import Path
from quantumfinance.contract import load_contract
from quantumfinance.data_dictionary import contract_path, example_data
from quantumfinance.synthetic import write_applicants_parquet
root = Path.cwd()
contract = load_contract(contract_path("base", root))
reference = example_data("base", contract, root).applicants
write_applicants_parquet({out!r}, contract, {rows}, seed=42, reference=reference)
"""


def run() -> str:
    with tempfile.TemporaryDirectory(prefix="qf-bench-data-") as tmp:
        root = Path(tmp)
        project_copy(root)
        params = f"ingest.source=synthetic,ingest.n_rows={PIPELINE_ROWS},ingest.seed=42"
        run_args = [KEDRO, "run", "--pipelines=ingest,data_engineering", "--params", params]
        pipe_wall, pipe_rss = measure_with_peak(run_args, root)
        quality = json.loads((root / "data" / "08_reporting" / "data_quality.json").read_text())
        model_input = root / "data" / "05_model_input"
        split_rows = sum(
            pq.ParquetFile(model_input / f"applicants_{part}.parquet").metadata.num_rows
            for part in ("train", "test")
        )
        if quality["rows_in"] != PIPELINE_ROWS or split_rows != quality["rows_valid"]:
            raise RuntimeError(f"unexpected row counts: {quality}, train+test={split_rows}")

        out = root / "applicants_10m.parquet"
        code = GENERATOR_CODE.format(out=str(out), rows=GENERATOR_ROWS)
        gen_wall, gen_rss = measure_with_peak([sys.executable, "-c", code], root)
        gen_rows = pq.ParquetFile(out).metadata.num_rows
        gen_mb = out.stat().st_size / 1024**2
    return f"""
| run | rows | wall time | peak RSS |
|---|---:|---:|---:|
| `kedro run --pipelines=ingest,data_engineering --params "{params}"` | {PIPELINE_ROWS:,} | {pipe_wall:.1f} s | {pipe_rss:,.0f} MB |
| `write_applicants_parquet(..., {GENERATOR_ROWS:,})` (German contract and table as reference, chunks of 100,000) | {gen_rows:,} | {gen_wall:.1f} s | {gen_rss:,.0f} MB |

The kedro run includes process start-up (imports of Kedro, kedro-mlflow, MLflow; SQLite MLflow
store creation), synthetic generation, pandera validation of every row
({quality["rows_quarantined"]:,} quarantined), the stratified split and parquet writes
(train + test = {split_rows:,} rows). The 10M-row parquet file is {gen_mb:,.0f} MB.
"""
