"""`make run`: ingest -> data_engineering -> data_science -> reporting on the embedded default.

Each pipeline runs as its own `kedro run` (so `ds` logs and registers its model: a summed
`__default__` cannot, kedro-mlflow issue 690). Then prints AUC, KS, the registered version,
whether the promotion gate made it champion, and where the report is.

    python -m scripts.run_all [--project PATH] [--env ENV] [--params k=v,...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

from quantumfinance.registry import MODEL_NAME, project_tracking_uri, version_of_run

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ("ingest", "data_engineering", "data_science", "reporting")


def run_pipeline(project: Path, name: str, env: str | None, params: str | None) -> None:
    """One `kedro run --pipeline=name` in the project folder; stop on failure."""
    kedro = Path(sys.executable).with_name("kedro")
    args = [str(kedro), "run", f"--pipeline={name}"]
    args += [f"--env={env}"] if env else []
    args += ["--params", params] if params else []
    sys.stdout.write(f"==> {' '.join(args[1:])}\n")
    sys.stdout.flush()
    env_vars = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    if subprocess.run(args, cwd=project, env=env_vars, check=False).returncode != 0:
        raise SystemExit(f"`kedro run --pipeline={name}` failed; see the log above")


def summary(project: Path, env: str | None) -> str:
    """AUC, KS, registered version, promotion outcome and report path of the last ds run."""
    metrics = json.loads((project / "data/08_reporting/metrics.json").read_text())
    uri = project_tracking_uri(project, env)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    latest = max(client.search_model_versions(f"name='{MODEL_NAME}'"), key=lambda v: int(v.version))
    version = version_of_run(client, MODEL_NAME, latest.run_id)
    champion = client.get_model_version_by_alias(MODEL_NAME, "champion").version
    outcome = "became champion" if str(champion) == str(version.version) else "kept champion"
    return "\n".join(
        [
            "",
            f"Chosen model:     {'challenger' if metrics['chosen_is_challenger'] else 'scorecard'}",
            f"CV AUC:           {metrics['cv_auc']:.4f} (baseline {metrics['cv_auc_baseline']:.4f})",
            f"Test AUC / KS:    {metrics['test_auc']:.4f} / {metrics['test_ks']:.4f}",
            f"Registered:       {MODEL_NAME} v{version.version} ({uri})",
            f"Promotion:        {outcome} v{champion} - {version.tags.get('promotion_reason', '')}",
            f"Report:           {project / 'data/08_reporting/model_card.md'}",
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
    for name in PIPELINES:
        run_pipeline(args.project, name, args.env, args.params)
    sys.stdout.write(summary(args.project, args.env))
    return 0


if __name__ == "__main__":
    sys.exit(main())
