"""Project pipelines, discovered with ``find_pipelines`` (aliases `de`/`ds` are alias packages)."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

RUN_ORDER = ("ingest", "data_engineering", "data_science", "reporting")


def register_pipelines() -> dict[str, Pipeline]:
    """Register every pipeline folder and ``__default__`` (all of them, in run order)."""
    pipelines = find_pipelines(raise_errors=True)
    # Adding a PipelineML to other pipelines yields a plain Pipeline (kedro-mlflow issue 690),
    # so `__default__` runs everything but logs no model; `make run` runs `ds` on its own.
    pipelines["__default__"] = sum(
        (pipelines[name] for name in RUN_ORDER if name in pipelines), Pipeline([])
    )
    return pipelines
