"""Project settings: Kedro defaults, the config resolvers the `stack` env needs, the run log."""

import logging
import os

# `kedro run` typed directly is as quiet as `make run`: no telemetry prompt, no MLflow download
# progress bars (read when an artifact is fetched, so setting them here is early enough; an
# explicit value in the environment wins). MLflow's own log handler: see conf/logging.yml.
QUIET_ENVIRONMENT = {
    "KEDRO_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # MLflow's records go through the run log (conf/logging.yml), not a handler of its own that
    # it would install when imported (by the hooks below), after Kedro applied that file.
    "MLFLOW_CONFIGURE_LOGGING": "false",
}
for _name, _value in QUIET_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

# ruff: noqa: E402 - the imports below come after the environment above
from quantumfinance.log_filters import PlainWarnings

# Library warnings go through the run log: one plain line, no colour codes, not-actionable ones
# dropped (quantumfinance.log_filters), also those raised while kedro loads its plugins, which
# it does after reading this file. (Kedro's logging.yml may not name a filter factory.)
logging.captureWarnings(True)
logging.getLogger("py.warnings").addFilter(PlainWarnings())

from quantumfinance.config_loader import LOADER_ARGS, ProjectConfigLoader
from quantumfinance.data_versions import DataVersionHooks
from quantumfinance.hooks import ProvenanceAndPromotionHooks, TruthfulRunHooks
from quantumfinance.run_log import ModelLoggedHooks, RunLogHooks

# Relative SQLite tracking URIs resolve to the project root, wherever a session starts
# (notebooks/, `kedro jupyter`, scripts): see quantumfinance.config_loader.
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = LOADER_ARGS  # base/local envs, ${oc.env:} in conf/stack, soft param merge

_RUN_LOG = RunLogHooks()
# Provenance tags on every run; promotion gate after kedro-mlflow registers the ds model;
# one timed line per node and the model logging's time (conf/logging.yml keeps the rest quiet);
# the exact data versions each run read and wrote (decision 0012); a run that fails after it
# started ends FAILED naming the step.
HOOKS = (
    ProvenanceAndPromotionHooks(),
    _RUN_LOG,
    ModelLoggedHooks(_RUN_LOG),
    DataVersionHooks(),
    TruthfulRunHooks(),
)
