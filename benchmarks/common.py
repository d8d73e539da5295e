"""Shared measurement helpers: wall time and peak RSS of a child process, machine description."""

from __future__ import annotations

import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
KEDRO = str(REPO_ROOT / ".venv" / "bin" / "kedro")
BENCH_ENV = {"KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
# Runs a command and records ITS peak RSS: RUSAGE_CHILDREN of a fresh process, so earlier
# benchmarks in the same `python -m benchmarks` process cannot leak into the figure.
_PEAK_RSS_WRAPPER = (
    "import resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(rc)"
)


@dataclass(frozen=True)
class Measurement:
    wall_seconds: float
    peak_rss_mb: float
    returncode: int


def measure(
    args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> Measurement:
    """Run `args` as a child process; report wall time and the child's peak RSS (ru_maxrss)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(
        args,
        cwd=cwd or REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
    # ru_maxrss of children is the max over all children so far; it is exact for the largest run.
    return Measurement(wall, max(peak_kb, before) / 1024, proc.returncode)


def machine_description() -> str:
    """One line naming the machine the figures come from."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
        f"{mem_gb:.0f} GB RAM, Python {platform.python_version()}"
    )


def project_copy(root: Path) -> None:
    """pyproject + conf/base + the packaged German table in `root` (the default portfolio's
    `ingest.path`, also the synthetic generator's reference); MLflow store and artifacts inside
    the copy."""
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(REPO_ROOT / "conf" / "base", root / "conf" / "base")
    (root / "conf" / "local").mkdir()
    resources = Path("src") / "quantumfinance" / "resources"
    shutil.copytree(REPO_ROOT / resources, root / resources)
    mlflow_yml = root / "conf" / "base" / "mlflow.yml"
    config = yaml.safe_load(mlflow_yml.read_text())
    config["server"]["mlflow_tracking_uri"] = f"sqlite:///{root / 'mlflow.db'}"
    config["tracking"]["experiment"]["create_experiment_kwargs"]["artifact_location"] = str(
        root / "mlartifacts"
    )
    mlflow_yml.write_text(yaml.safe_dump(config))


def measure_with_peak(args: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one command run in `cwd`; raises if it fails."""
    rss_file = cwd / "peak_rss_kb"
    result = measure(
        [sys.executable, "-c", _PEAK_RSS_WRAPPER, str(rss_file), *args], cwd, BENCH_ENV
    )
    if result.returncode != 0:
        raise RuntimeError(f"benchmark command failed ({result.returncode}): {' '.join(args)}")
    return result.wall_seconds, int(rss_file.read_text()) / 1024
