"""The run log of the chain `make run` runs (ingest -> de -> ds -> reporting), as written to a
file by conf/logging.yml: short unwrapped lines, one timed line per node, progress on the model
logging, no deprecation warnings. It reuses the `trained_project` run's log (no extra training).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from kedro.framework.project import LOGGING

from tests.conftest import REPO_ROOT, make_project_copy

# A file has no terminal: the width the log must fit is COLUMNS when set, else a wide terminal.
WIDTH = int(os.environ.get("COLUMNS") or 120)
RECORD = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) +\S")
CHAIN = ("ingest", "data_engineering", "data_science", "reporting")


def log_lines(project) -> list[str]:
    """The run log's lines."""
    return project.run_log.read_text(encoding="utf-8").splitlines()


def test_run_log_lines_fit_the_terminal_and_are_never_wrapped(trained_project):
    lines = log_lines(trained_project)

    assert lines
    too_long = [line for line in lines if len(line) > WIDTH]
    assert not too_long, f"{len(too_long)} line(s) over {WIDTH} columns: {too_long[:3]}"
    # Every line is a record of its own (time, level, message): nothing wrapped onto a new line.
    assert [line for line in lines if not RECORD.match(line)] == []


def test_run_log_has_one_timed_line_per_node_and_the_model_logging(trained_project):
    log = "\n".join(log_lines(trained_project))

    for name in CHAIN:
        started = re.search(rf"Running {name} \(env local\): (\d+) nodes", log)
        assert started, name
        total = int(started.group(1))
        timed = re.findall(rf"\[(\d+)/{total}\] (\w+): \d+\.\d s", log[started.end() :])[:total]
        assert [int(i) for i, _ in timed] == list(range(1, total + 1)), name
        assert len({node for _, node in timed}) == total  # one line per node, each named
        assert re.search(rf"{name}: {total} nodes done in \d+\.\d s", log)
    # the long step after ds: kedro-mlflow logging and registering the model, announced and timed
    assert "Logging and registering the model in MLflow..." in log
    assert re.search(r"Model logged in \d+\.\d s", log)
    # Kedro's own per-dataset chatter is replaced by the lines above
    assert "Loading data from" not in log and "Saving data to" not in log


def test_run_log_has_no_deprecation_warning(trained_project):
    log = "\n".join(log_lines(trained_project))
    assert not re.search(r"Deprecat|FutureWarning|PendingDeprecation", log, re.IGNORECASE)


def test_project_logging_config_is_accepted_by_kedro():
    """conf/logging.yml uses only classes Kedro allows without KEDRO_LOGGING_MODULE_ALLOWLIST
    (Kedro reads it at start-up from the project root, so a bad one breaks every `kedro run`)."""
    config = yaml.safe_load((REPO_ROOT / "conf" / "logging.yml").read_text())
    saved = dict(LOGGING.data)
    try:
        LOGGING.configure(config)
    finally:
        LOGGING.configure(saved)


def test_kedro_run_typed_directly_is_as_quiet_as_make_run(tmp_path: Path):
    """`kedro run --pipelines=ds` as a data scientist types it (no Makefile environment): only
    the run log's records -- no colour codes, no MLflow progress bars or uv lines, no library
    warning a user cannot act on (MLflow's type-hint advice about kedro-mlflow's class)."""
    make_project_copy(tmp_path)
    shutil.copy(REPO_ROOT / "conf" / "logging.yml", tmp_path / "conf" / "logging.yml")
    kedro = Path(sys.executable).with_name("kedro")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "KEDRO_", "QF_")) and k != "DO_NOT_TRACK"
    }
    output = []
    for pipeline in ("ingest", "de", "ds"):
        done = subprocess.run(
            [str(kedro), "run", f"--pipelines={pipeline}"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        output += (done.stdout + done.stderr).splitlines()
    assert len(output) > 20
    assert not [line for line in output if "\x1b[" in line or "\r" in line]
    assert not [line for line in output if "Add type hints" in line or "Downloading" in line]
    assert [line for line in output if not RECORD.match(line)] == []
