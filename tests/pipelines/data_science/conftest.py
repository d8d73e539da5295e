"""data_science fixtures: each shipped portfolio's trained project, its fitted candidates and the
scoring runtime's model the run built from them."""

from __future__ import annotations

import pickle

import pytest

from quantumfinance.model_dataset import ScoringModelDataset
from quantumfinance.scoring import ScoringModel
from tests.conftest import TrainedProject

PROJECTS = {"german": "trained_project", "cards": "cards_project"}


@pytest.fixture(scope="module", params=list(PROJECTS))
def project(request) -> TrainedProject:
    """Both shipped portfolios, trained once per session by tests/conftest.py: same code."""
    return request.getfixturevalue(PROJECTS[request.param])


@pytest.fixture(scope="module")
def scoring_model(project) -> ScoringModel:
    """The runtime's model the data_science run wrote into the trained project copy."""
    return ScoringModelDataset(str(project.data / "06_models" / "scoring_model.json")).load()


@pytest.fixture(scope="module")
def fitted_candidates(project) -> dict:
    """The fitted candidates (optbinning and scikit-learn objects) of the same run."""
    with (project.data / "06_models" / "fitted_candidates.pkl").open("rb") as handle:
        return pickle.load(handle)
