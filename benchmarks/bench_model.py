"""The full pipeline (ingest -> de -> ds -> reporting) on 100,000 and 1,000,000 synthetic rows.

Each pipeline runs as its own `kedro run` child process in a temporary project copy (the
repository's data/ and mlflow.db are untouched), exactly as `make run` does. Peak RSS is taken
per stage by a tiny wrapper (RUSAGE_CHILDREN of a fresh process).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from benchmarks.common import KEDRO, measure_with_peak, project_copy

TITLE = "Credit model: ingest -> data_engineering -> data_science -> reporting (synthetic rows)"
ROWS = (100_000, 1_000_000)
STAGES = ("ingest", "data_engineering", "data_science", "reporting")


def _stage(root: Path, stage: str, params: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one `kedro run --pipelines=stage`; raises if it fails."""
    return measure_with_peak([KEDRO, "run", f"--pipelines={stage}", "--params", params], root)


def _one_size(rows: int) -> list[str]:
    """Table rows for one data size."""
    with tempfile.TemporaryDirectory(prefix="qf-bench-model-") as tmp:
        root = Path(tmp)
        project_copy(root)
        params = f"ingest.source=synthetic,ingest.n_rows={rows},ingest.seed=42"
        figures = {stage: _stage(root, stage, params) for stage in STAGES}
        metrics = json.loads((root / "data" / "08_reporting" / "metrics.json").read_text())
        chosen = json.loads((root / "data" / "06_models" / "chosen_model.json").read_text())
    lines = [
        f"| {rows:,} | {stage} | {wall:.1f} s | {rss:,.0f} MB |"
        for stage, (wall, rss) in figures.items()
    ]
    total = sum(w for w, _ in figures.values())
    peak = max(r for _, r in figures.values())
    lines.append(
        f"| {rows:,} | **end to end** | **{total:.1f} s** | **{peak:,.0f} MB** (largest stage) |"
    )
    lines.append(
        f"| {rows:,} | (model) | CV AUC {metrics['cv_auc']:.3f}, test AUC {metrics['test_auc']:.3f}, "
        f"KS {metrics['test_ks']:.3f} | chosen: {chosen} |"
    )
    return lines


def run() -> str:
    rows = [line for n in ROWS for line in _one_size(n)]
    table = "\n".join(rows)
    return f"""
| rows | stage | wall time | peak RSS |
|---|---|---:|---:|
{table}

Each stage is one `kedro run --pipelines=<stage> --params "ingest.source=synthetic,ingest.n_rows=N"`
(process start-up and MLflow logging included). Training cost is bounded on purpose
(`parameters_data_science.yml`): CV on a stratified sample of at most `cv.max_rows` (20,000),
the final fit on at most `fit_max_rows` (100,000), the training-split score for PSI on at most
`train_scoring_max_rows` (200,000); test-set evaluation, scoring with reason codes and the
reports use every row, so the remaining cost grows linearly with rows.
"""
