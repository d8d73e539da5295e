"""ingest + data_engineering on 1,000,000 synthetic applicants, and the generator at 10,000,000.

Both run as child processes in a temporary project copy, so the repository's data/ is untouched.
Peak RSS is taken per run by a tiny wrapper (RUSAGE_CHILDREN of a fresh process), so figures of
earlier benchmarks in the same `python -m benchmarks` process cannot leak into these.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from benchmarks.common import REPO_ROOT, measure

TITLE = "Data pipelines: ingest + data_engineering (1M synthetic rows), generator (10M rows)"
PIPELINE_ROWS = 1_000_000
GENERATOR_ROWS = 10_000_000
KEDRO = str(REPO_ROOT / ".venv" / "bin" / "kedro")
PEAK_RSS_WRAPPER = (
    "import resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(rc)"
)
ENV = {"KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}


def _project_copy(root: Path) -> None:
    """pyproject + conf/base + empty src/ and data/; MLflow store inside the copy."""
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(REPO_ROOT / "conf" / "base", root / "conf" / "base")
    (root / "conf" / "local").mkdir()
    (root / "src").mkdir()
    mlflow_yml = root / "conf" / "base" / "mlflow.yml"
    config = yaml.safe_load(mlflow_yml.read_text())
    config["server"]["mlflow_tracking_uri"] = f"sqlite:///{root / 'mlflow.db'}"
    mlflow_yml.write_text(yaml.safe_dump(config))


def _measure_with_peak(args: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one command; raises if it fails."""
    rss_file = cwd / "peak_rss_kb"
    result = measure([sys.executable, "-c", PEAK_RSS_WRAPPER, str(rss_file), *args], cwd, ENV)
    if result.returncode != 0:
        raise RuntimeError(f"benchmark command failed ({result.returncode}): {' '.join(args)}")
    return result.wall_seconds, int(rss_file.read_text()) / 1024


def run() -> str:
    with tempfile.TemporaryDirectory(prefix="qf-bench-data-") as tmp:
        root = Path(tmp)
        _project_copy(root)
        params = f"ingest.source=synthetic,ingest.n_rows={PIPELINE_ROWS},ingest.seed=42"
        run_args = [KEDRO, "run", "--pipelines=ingest,data_engineering", "--params", params]
        pipe_wall, pipe_rss = _measure_with_peak(run_args, root)
        quality = json.loads((root / "data" / "08_reporting" / "data_quality.json").read_text())
        model_input = root / "data" / "05_model_input"
        split_rows = sum(
            pq.ParquetFile(model_input / f"applicants_{part}.parquet").metadata.num_rows
            for part in ("train", "test")
        )
        if quality["rows_in"] != PIPELINE_ROWS or split_rows != quality["rows_valid"]:
            raise RuntimeError(f"unexpected row counts: {quality}, train+test={split_rows}")

        out = root / "applicants_10m.parquet"
        code = (
            "from quantumfinance.synthetic import write_applicants_parquet; "
            f"write_applicants_parquet({str(out)!r}, {GENERATOR_ROWS}, seed=42)"
        )
        gen_wall, gen_rss = _measure_with_peak([sys.executable, "-c", code], root)
        gen_rows = pq.ParquetFile(out).metadata.num_rows
        gen_mb = out.stat().st_size / 1024**2
    return f"""
| run | rows | wall time | peak RSS |
|---|---:|---:|---:|
| `kedro run --pipelines=ingest,data_engineering --params "{params}"` | {PIPELINE_ROWS:,} | {pipe_wall:.1f} s | {pipe_rss:,.0f} MB |
| `write_applicants_parquet(..., {GENERATOR_ROWS:,})` (chunks of 100,000) | {gen_rows:,} | {gen_wall:.1f} s | {gen_rss:,.0f} MB |

The kedro run includes process start-up (imports of Kedro, kedro-mlflow, MLflow; SQLite MLflow
store creation), synthetic generation, pandera validation of every row
({quality["rows_quarantined"]:,} quarantined), the stratified split and parquet writes
(train + test = {split_rows:,} rows). The 10M-row parquet file is {gen_mb:,.0f} MB.
"""
