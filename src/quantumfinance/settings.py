"""Project settings: Kedro defaults plus the config resolvers the `stack` env needs."""

from kedro.config import OmegaConfigLoader
from omegaconf.resolvers import oc

from quantumfinance.data_versions import DataVersionHooks
from quantumfinance.hooks import ProvenanceAndPromotionHooks

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # `${oc.env:VAR,default}` is allowed outside credentials* so that conf/stack can point at
    # the endpoints given by `.stack.env` / `.env` without copying them into YAML.
    "custom_resolvers": {"oc.env": oc.env},
}

# Provenance tags on every run; promotion gate after kedro-mlflow registers the ds model.
HOOKS = (ProvenanceAndPromotionHooks(), DataVersionHooks())  # data versions: decision 0010
