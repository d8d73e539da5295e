"""``python -m quantumfinance.registry status|history|check [--remove]|rollback|promote VERSION
[--tracking-uri URI] [--env ENV]``; and where a project's registry is (its Kedro config)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from quantumfinance.registry.commands import check, promote, rollback
from quantumfinance.registry.reader import RegistryReader, history, status
from quantumfinance.registry.versions import MODEL_NAME, RegistryError

if TYPE_CHECKING:
    from kedro.config import OmegaConfigLoader


def project_config(project_path: Path, env: str | None = None) -> OmegaConfigLoader:
    """The project's config exactly as a Kedro session in ``env`` reads it (settings' loader and
    arguments; relative SQLite stores anchored at the project root), plus the ``mlflow`` files."""
    from quantumfinance.config_loader import LOADER_ARGS, ProjectConfigLoader  # noqa: PLC0415

    return ProjectConfigLoader(
        conf_source=str(project_path / "conf"),
        **{**LOADER_ARGS, "default_run_env": env or LOADER_ARGS["default_run_env"]},
        config_patterns={"mlflow": ["mlflow*", "mlflow*/**"]},
    )


def project_data_root(project_path: Path, env: str | None = None) -> Path:
    """The env's data folder (``globals.yml`` ``data_root``: data, or data/<portfolio>)."""
    return project_path / project_config(project_path, env)["globals"].get("data_root", "data")


def project_tracking_uri(project_path: Path, env: str | None = None) -> str:
    """The tracking URI of the project's ``mlflow.yml`` (env overrides base), as kedro-mlflow sees it."""
    return project_config(project_path, env)["mlflow"]["server"]["mlflow_tracking_uri"]


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: ``status``, ``history``, ``check [--remove]``, ``rollback`` or
    ``promote VERSION``."""
    from quantumfinance import registry  # noqa: PLC0415 - its docstring is the CLI's help

    parser = argparse.ArgumentParser(
        prog="python -m quantumfinance.registry",
        description=registry.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["status", "history", "check", "rollback", "promote"])
    parser.add_argument("version", nargs="?", help="promote: the version to make champion")
    parser.add_argument("--remove", action="store_true", help="check: delete incomplete versions")
    parser.add_argument("--model", default=MODEL_NAME)
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI"))
    parser.add_argument("--env", default=None, help="Kedro env whose mlflow.yml to read")
    args = parser.parse_args(argv)
    if args.command == "promote" and not args.version:
        parser.error("promote needs the VERSION to make champion, e.g. `promote 3`")
    uri = args.tracking_uri or project_tracking_uri(Path.cwd(), args.env)
    try:
        if args.command in ("status", "history"):
            report = status if args.command == "status" else history
            outcome = report(RegistryReader(uri), args.model)
        else:
            from mlflow.exceptions import MlflowException  # noqa: PLC0415
            from mlflow.tracking import MlflowClient  # noqa: PLC0415

            client = MlflowClient(tracking_uri=uri, registry_uri=uri)
            try:
                if args.command == "check":
                    outcome = check(client, args.model, remove=args.remove)
                elif args.command == "rollback":
                    outcome = rollback(client, args.model)
                else:
                    outcome = promote(client, args.version, args.model)
            except MlflowException as error:
                raise RegistryError(str(error)) from error
        sys.stdout.write(outcome + "\n")
    except (RegistryError, OSError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    return 0
