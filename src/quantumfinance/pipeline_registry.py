"""Project pipelines, discovered with ``find_pipelines`` plus the short aliases users type."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

ALIASES = {"de": "data_engineering", "ds": "data_science"}


def register_pipelines() -> dict[str, Pipeline]:
    """Register every pipeline folder, its alias, and ``__default__`` (all of them in order)."""
    pipelines = find_pipelines(raise_errors=True)
    for alias, name in ALIASES.items():
        if name in pipelines:
            pipelines[alias] = pipelines[name]
    # Adding a PipelineML to other pipelines yields a plain Pipeline (kedro-mlflow issue 690),
    # so `__default__` runs everything but logs no model; `make run` runs `ds` on its own.
    pipelines["__default__"] = sum(
        (
            pipelines[n]
            for n in ("ingest", "data_engineering", "data_science", "reporting")
            if n in pipelines
        ),
        Pipeline([]),
    )
    return pipelines
