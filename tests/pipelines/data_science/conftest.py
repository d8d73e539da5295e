"""data_science fixtures: the fitted CreditModel of the session's trained project."""

from __future__ import annotations

import pickle

import pytest

from quantumfinance.pipelines.data_science import nodes


@pytest.fixture(scope="module")
def credit_model(trained_project) -> nodes.CreditModel:
    """The CreditModel pickle the data_science run wrote into the trained project copy."""
    with (trained_project.root / "data/06_models/credit_model.pkl").open("rb") as handle:
        return pickle.load(handle)
