"""`python -m quantumfinance_serving`: run the API with uvicorn (settings from QF_* variables).

Settings are checked before anything heavy is imported: a bad one stops the start with one line
per problem, naming the variable, and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pydantic import ValidationError

from quantumfinance_serving.settings import Settings, env_name, problems, unknown_variables

logger = logging.getLogger("quantumfinance_serving")


def usage() -> str:
    lines = ["Settings (environment variables):"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "" if default in (None, "") else f" [default: {default}]"
        lines.append(f"  {env_name(name):<28} {field.description or ''}{shown}")
    lines.append("  MLFLOW_TRACKING_URI          the MLflow registry models:/ URIs are read from")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m quantumfinance_serving",
        description="Serve the registered credit-score model over HTTP (FastAPI + uvicorn).",
        epilog=usage(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)  # --help prints the usage and exits; nothing else is accepted
    try:
        settings = Settings()
    except ValidationError as exc:
        for line in problems(exc):
            sys.stderr.write(f"quantumfinance_serving: invalid setting {line}\n")
        return 2
    from quantumfinance_serving.logs import configure  # noqa: PLC0415

    configure(settings.log_level, settings.log_format)
    for warning in unknown_variables():
        logger.warning(warning)
    if not settings.key_hashes:
        logger.warning("QF_API_KEYS is empty: every /v1/* request will be refused with 401")
    from quantumfinance_serving.server import run  # noqa: PLC0415

    run(settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
