"""data_science fixtures: each shipped portfolio's trained project and its fitted CreditModel."""

from __future__ import annotations

import pickle

import pytest

from quantumfinance.pipelines.data_science import nodes
from tests.conftest import TrainedProject

PROJECTS = {"german": "trained_project", "cards": "cards_project"}


@pytest.fixture(scope="module", params=list(PROJECTS))
def project(request) -> TrainedProject:
    """Both shipped portfolios, trained once per session by tests/conftest.py: same code."""
    return request.getfixturevalue(PROJECTS[request.param])


@pytest.fixture(scope="module")
def credit_model(project) -> nodes.CreditModel:
    """The CreditModel pickle the data_science run wrote into the trained project copy."""
    with (project.data / "06_models" / "credit_model.pkl").open("rb") as handle:
        return pickle.load(handle)
