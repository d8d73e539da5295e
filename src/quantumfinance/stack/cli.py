"""Thin CLI over quantumfinance.stack: parse flags, call up/down/status, print the result."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from quantumfinance.stack.core import (
    DEFAULT_PORTS,
    SECRET_EXPORTS,
    StackConfig,
    down,
    status,
    up,
)
from quantumfinance.stack.process import StackError


def _parse_args(argv: list[str] | None) -> tuple[str, StackConfig]:
    parser = argparse.ArgumentParser(
        prog="python -m quantumfinance.stack",
        description="No-Docker stack: PostgreSQL, S3 (SeaweedFS), MLflow server, Dask.",
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--state-dir", type=Path, default=Path(".stack"))
    parser.add_argument("--env-file", type=Path, default=Path(".stack.env"))
    for name, default in DEFAULT_PORTS.items():
        env_name = f"QF_STACK_{name.upper()}_PORT"
        parser.add_argument(
            f"--{name}-port",
            type=int,
            default=int(os.environ.get(env_name, default)),
            help=f"(env {env_name}, default {default}; used on the first `up`)",
        )
    args = parser.parse_args(argv)
    ports = {name: getattr(args, f"{name}_port") for name in DEFAULT_PORTS}
    return args.command, StackConfig(args.state_dir.resolve(), args.env_file.resolve(), ports)


def _say(text: str, stream=sys.stdout) -> None:  # noqa: ANN001
    """CLI output (the exports must reach the operator's terminal)."""
    stream.write(text + "\n")


def where_secrets_are(env: dict[str, str], config: StackConfig) -> str:
    """The exports, with each secret replaced by where it is kept (a terminal is scrolled back,
    logged and shared: it shows no key or password)."""
    lines = [f"exports (all in {config.env_file}, mode 600; `source` it):"]
    for key, value in env.items():
        shown = f"<secret, in {config.env_file.name}>" if key in SECRET_EXPORTS else value
        lines.append(f"  {key}={shown}")
    lines.append(f"keys and passwords of the services: {config.state_file} (mode 600)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    command, config = _parse_args(argv)
    try:
        if command == "up":
            stack = up(config)
            _say(f"stack up (S3 endpoint: SeaweedFS, data in {config.state_dir})")
            _say(where_secrets_are(stack.env(), config))
            _say(f"source {config.env_file} && kedro run --env stack --pipelines=ingest,de")
        elif command == "down":
            down(config)
            _say(f"stack down (data kept in {config.state_dir})")
        else:
            for name, line in status(config).items():
                _say(f"{name:9} {line}")
    except StackError as exc:
        _say(f"stack {command} failed: {exc}", sys.stderr)
        return 1
    return 0
