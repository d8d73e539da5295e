"""Project commands (Kedro loads ``cli`` from here): Kedro's own ``run``, ending on a contract
error with the error's message and exit code 2 instead of a traceback.

A contract error names the contract file, the field and the problem; that line is what the
reader needs. The traceback is logged at DEBUG (for a log file handler) and shown in full with
``kedro run --verbose-errors`` or ``QF_VERBOSE_ERRORS=1``. Every other error is Kedro's as before.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run

from quantumfinance.contract import ContractError

logger = logging.getLogger(__name__)
CONTRACT_ERROR_EXIT = 2
VERBOSE_ENV = "QF_VERBOSE_ERRORS"

verbose_errors = click.Option(
    ["--verbose-errors"],
    is_flag=True,
    default=False,
    help=f"Show the full traceback of a contract error (or set {VERBOSE_ENV}=1).",
)


@click.group(name="quantumfinance")
def cli() -> None:
    """QuantumFinance project commands."""


@cli.command(name="run", params=[*kedro_run.params, verbose_errors], help=kedro_run.help)
@click.pass_context
def run(ctx: click.Context, verbose_errors: bool, **kwargs: Any) -> Any:
    """Kedro's ``run``; a contract error ends it with its message and exit code 2."""
    try:
        return ctx.invoke(kedro_run, **kwargs)
    except ContractError as error:
        if verbose_errors or os.environ.get(VERBOSE_ENV, "") not in ("", "0", "false"):
            raise
        logger.debug("contract error", exc_info=True)
        click.secho(f"Error: {error}", err=True, fg="red")
        click.echo(f"(traceback: kedro run --verbose-errors or {VERBOSE_ENV}=1)", err=True)
        ctx.exit(CONTRACT_ERROR_EXIT)
