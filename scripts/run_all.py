"""`make run`: ingest -> data_engineering -> data_science -> reporting on the embedded default.

Each pipeline runs as its own `kedro run` (so `ds` logs and registers its model: a summed
`__default__` cannot, kedro-mlflow issue 690). `reporting` logs into a run of its own, tagged
`quantumfinance.model_run_id` = the ds run's id (QF_MODEL_RUN_ID): the training run's lineage is
written once and never rewritten; the API finds the plots through that link. Then prints AUC, KS, the registered version,
whether the promotion gate made it champion, and where the report is.

    python -m scripts.run_all [--project PATH] [--env ENV] [--params k=v,...]

`--env cards` (or your own portfolio's env) runs the same chain on that env's contract and data.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

from quantumfinance.lineage import MODEL_RUN_ENV
from quantumfinance.registry import (
    MODEL_NAME,
    project_data_root,
    project_tracking_uri,
)

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ("ingest", "data_engineering", "data_science", "reporting")


def run_pipeline(
    project: Path, name: str, env: str | None, params: str | None, run_id: str | None = None
) -> None:
    """One `kedro run --pipelines=name` in the project folder (linked to training run `run_id`)."""
    kedro = Path(sys.executable).with_name("kedro")
    args = [str(kedro), "run", f"--pipelines={name}"]
    args += [f"--env={env}"] if env else []
    args += ["--params", params] if params else []
    sys.stdout.write(f"==> {' '.join(args[1:])}\n")
    sys.stdout.flush()
    # The venv's bin first: MLflow exports the model's requirements with the project's `uv`
    # (uv.lock); without it on PATH it falls back to inferring them, a ~40 s pause per model.
    path = os.pathsep.join([str(kedro.parent), os.environ.get("PATH", "")])
    env_vars = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "PATH": path}
    env_vars.pop(MODEL_RUN_ENV, None)  # a stray value would link to an unrelated model
    if run_id:
        env_vars[MODEL_RUN_ENV] = run_id
    if subprocess.run(args, cwd=project, env=env_vars, check=False).returncode != 0:
        raise SystemExit(f"`kedro run --pipelines={name}` failed; see the log above")


def registry_client(project: Path, env: str | None) -> tuple[MlflowClient, str]:
    """A client on the project's tracking store and registry, and its URI."""
    uri = project_tracking_uri(project, env)
    return MlflowClient(tracking_uri=uri, registry_uri=uri), uri


def latest_model_run_id(client: MlflowClient) -> str:
    """The run that logged the newest registered version of the credit model (the last ds run)."""
    versions = client.search_model_versions(f"name='{MODEL_NAME}'")
    if not versions:
        raise SystemExit(f"no version of '{MODEL_NAME}' is registered: did the ds run log it?")
    return max(versions, key=lambda v: int(v.version)).run_id


def summary(project: Path, env: str | None) -> str:
    """Chosen model, AUC, KS, and what the registry did with THIS ds run (its own
    promotion_decision.json: a new version promoted or kept as challenger, or none because the
    model is identical to the champion), and the report path."""
    data = project_data_root(project, env)
    reports = data / "08_reporting"
    metrics = json.loads((reports / "metrics.json").read_text())
    chosen = json.loads((data / "06_models" / "chosen_model.json").read_text())
    decision = json.loads((reports / "promotion_decision.json").read_text())
    _, uri = registry_client(project, env)
    if decision.get("version") is None:
        registered = f"no new version ({decision.get('reason', '')})"
        promotion = f"champion stays v{decision.get('champion')}"
    else:
        registered = f"{MODEL_NAME} v{decision['version']} ({uri})"
        outcome = "became champion" if decision.get("promoted") else "not promoted"
        promotion = f"{outcome} - {decision.get('reason', '')}"
    return "\n".join(
        [
            "",
            f"Chosen model:     {chosen}",
            f"CV AUC:           {metrics['cv_auc']:.4f} (baseline {metrics['cv_auc_baseline']:.4f})",
            f"Test AUC / KS:    {metrics['test_auc']:.4f} / {metrics['test_ks']:.4f}",
            f"Registered:       {registered}",
            f"Promotion:        {promotion}",
            f"Report:           {reports / 'model_card.md'}",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """Run the four pipelines in order and print the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=ROOT)
    parser.add_argument("--env", default=None)
    parser.add_argument("--params", default=None, help="passed to every kedro run")
    args = parser.parse_args(argv)
    client, _ = registry_client(args.project, args.env)
    model_run_id = None
    for name in PIPELINES:
        run_pipeline(args.project, name, args.env, args.params, model_run_id)
        if name == "data_science":
            model_run_id = latest_model_run_id(client)
    sys.stdout.write(summary(args.project, args.env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
