"""`make chaos`: kill one stack service at one step of a training flow, then check the registry.

For each of S3 (SeaweedFS), PostgreSQL and the MLflow server, and each of the steps
cross-validation (ds nodes), model logging, registration (gate + version creation) and reporting,
on a throwaway no-Docker stack: start the step's `kedro run --env stack`, wait (by the run's
``quantumfinance.stage`` tag, read in PostgreSQL) until it is in that step, SIGKILL the
service, restart it, let the next run's sweep look at the dead run, then check:

- registry: every version is complete (digest and gate decision in its tags);
- run: the killed run is FAILED (by itself or by the sweep), not FINISHED, not RUNNING;
- champion: points at a complete version whose gate decision (or an operator's move) put it there;
- next: the next ds run succeeds.

Prints a Markdown table (the one in docs/operations.md). ``--cells s3:model_logging,...`` runs
only those cells. Takes about 2 minutes per cell on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from quantumfinance.stack import Stack  # noqa: E402
from tests.integration.conftest import copy_project, kedro_run, query, read_env_file  # noqa: E402
from tests.support.stack import running_stack  # noqa: E402

SERVICES = ("s3", "postgres", "mlflow")
# step -> (pipeline to run, stage tag that says the run is in it, seconds to wait once it is)
STEPS = {
    "cross_validation": ("data_science", "nodes", 3.0),
    "model_logging": ("data_science", "model_logging", 0.5),
    "registration": ("data_science", "registration", 0.5),
    "reporting": ("reporting", "nodes", 2.0),
}
STAGE = (
    "SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
    "AND t.key = 'quantumfinance.stage' WHERE t.value = %s"
)
INCOMPLETE = (
    "SELECT v.version FROM model_versions v WHERE v.name = 'credit-score' "
    "AND v.current_stage <> 'Deleted_Internal' AND NOT EXISTS ("
    "SELECT 1 FROM model_version_tags t WHERE t.name = v.name AND t.version = v.version "
    "AND t.key = 'quantumfinance.model_sha256')"
)
CHAMPION = (
    "SELECT a.version, t.value FROM registered_model_aliases a LEFT JOIN model_version_tags t "
    "ON t.name = a.name AND t.version = a.version AND t.key = 'promotion' "
    "WHERE a.name = 'credit-score' AND a.alias = 'champion'"
)
FAST_FAILING = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}


def _kill(stack: Stack, service: str) -> None:
    """SIGKILL the service's process group, as a crash would."""
    if service == "postgres":
        stack.postgres.kill()
    elif service == "s3":
        stack.s3.service.kill()
    else:
        stack.mlflow.service.kill()


def _until_stage(stack: Stack, stage: str, seen: set[str], proc: subprocess.Popen) -> str | None:
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and proc.poll() is None:
        new = {row[0] for row in query(stack, STAGE, (stage,))} - seen
        if new:
            return next(iter(new))
        time.sleep(0.2)
    return None


def cell(stack: Stack, env: dict[str, str], project: Path, service: str, step: str) -> dict:
    """One crash and its checks: {registry, run, champion, next} -> 'ok' or what went wrong."""
    pipeline, stage, delay = STEPS[step]
    seen = {row[0] for row in query(stack, STAGE, (stage,))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--env", "stack", "--pipelines", pipeline],
        cwd=project, env={**env, **FAST_FAILING}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    run_id = _until_stage(stack, stage, seen, proc)
    if run_id is None:
        proc.kill()
        return {"registry": "-", "run": f"never reached {stage}", "champion": "-", "next": "-"}
    time.sleep(delay)
    _kill(stack, service)
    try:
        proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
    stack.start()  # each service: restarted if dead, untouched otherwise
    result: dict = {}
    sweep = kedro_run(project, env, "--pipelines", "ingest")
    status, step_tag = _run_state(stack, run_id)
    # true: FAILED when the process failed, FINISHED when it succeeded despite the kill
    truthful = status == ("FAILED" if proc.returncode else "FINISHED")
    result["run"] = f"{'ok' if truthful else 'UNTRUE'}: {status}, exit {proc.returncode}"
    result["run"] += f", failed_step {step_tag}" if step_tag else ""
    incomplete = query(stack, INCOMPLETE)
    result["registry"] = "ok" if not incomplete else f"incomplete {incomplete}"
    champion = query(stack, CHAMPION)
    fine = champion and champion[0][1] in ("promoted", "promoted_by_operator")
    result["champion"] = "ok" if fine else f"{champion}"
    again = kedro_run(project, env, "--pipelines", "data_science")
    result["next"] = "ok" if again.returncode == 0 and sweep.returncode == 0 else "failed"
    return result


def _run_state(stack: Stack, run_id: str) -> tuple[str, str | None]:
    status = query(stack, "SELECT status FROM runs WHERE run_uuid = %s", (run_id,))[0][0]
    tag = query(
        stack,
        "SELECT value FROM tags WHERE run_uuid = %s AND key = 'quantumfinance.failed_step'",
        (run_id,),
    )
    return status, tag[0][0] if tag else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="", help="service:step,... (default: all 12)")
    args = parser.parse_args(argv)
    cells = [tuple(c.split(":")) for c in args.cells.split(",") if c] or [
        (service, step) for service in SERVICES for step in STEPS
    ]
    rows = []
    with running_stack() as stack, tempfile.TemporaryDirectory(prefix="qf-chaos-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
        env = {**env, **read_env_file(stack.config.env_file)}
        project = copy_project(Path(tmp) / "project")
        for args_ in (["--pipelines", "ingest,data_engineering"], ["--pipelines", "data_science"]):
            run = kedro_run(project, env, *args_)
            if run.returncode != 0:
                sys.stderr.write(run.output[-4000:])
                return 1
        for service, step in cells:
            started = time.monotonic()
            outcome = cell(stack, env, project, service, step)
            seconds = time.monotonic() - started
            row = (
                f"| {service} | {step} | {outcome['registry']} | {outcome['run']} | "
                f"{outcome['champion']} | {outcome['next']} |"
            )
            rows.append(row)
            sys.stdout.write(f"{row}  <!-- {seconds:.0f} s -->\n")
            sys.stdout.flush()
    header = (
        "| killed | during | registry complete | killed run | champion | next ds run |\n"
        "|---|---|---|---|---|---|"
    )
    sys.stdout.write("\n" + header + "\n" + "\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
