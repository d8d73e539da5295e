"""Fixtures of the front-end tests: a real scoring API process on the trained model, and the app.

The API is `python -m quantumfinance_serving` on a free port, loading `trained_project`'s registered
model (tests/conftest.py); the Streamlit app reaches it over HTTP exactly as in production.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import requests

from quantumfinance.applicant_schema import FEATURE_COLUMNS
from quantumfinance_serving.keys import new_key
from tests.support.services import BackgroundProcess, free_port

APP = Path(__file__).resolve().parents[2] / "src" / "quantumfinance_frontend" / "app.py"


@dataclass
class ScoringApi:
    """A running API process, its URL and a valid plain key."""

    url: str
    key: str
    process: BackgroundProcess

    def score(self, applicant: dict) -> dict:
        """The API's own answer for an applicant: what the page must show."""
        response = requests.post(
            f"{self.url}/v1/score", json=applicant, headers={"x-api-key": self.key}, timeout=30
        )
        response.raise_for_status()
        return response.json()


def start_api(project, log_dir: Path, ready: bool = True, **settings: str) -> ScoringApi:
    """Start `python -m quantumfinance_serving` on the trained model; wait until it is ready.

    With ready=False only until it answers /health (for a model that cannot load).
    """
    key, entry = new_key("frontend-tests")
    port = free_port()
    env = {
        "MLFLOW_TRACKING_URI": project.tracking_uri,
        "QF_MODEL_URI": project.model_uri,
        "QF_API_KEYS": entry,
        "QF_HOST": "127.0.0.1",
        "QF_PORT": str(port),
        "QF_AUDIT_PATH": str(log_dir / f"audit-{port}.jsonl"),
        "QF_RELOAD_INTERVAL_SECONDS": "0",
        "QF_RATE_LIMIT": "100000/minute",
        **settings,
    }
    process = BackgroundProcess(
        [sys.executable, "-m", "quantumfinance_serving"],
        log_dir / f"api-{port}.log",
        env=env,
        cwd=Path(project.root),
    )
    url = f"http://127.0.0.1:{port}"
    probe = "/ready" if ready else "/health"
    process.wait_ready(
        lambda: requests.get(url + probe, timeout=2).status_code == 200, 150, "scoring API"
    )
    return ScoringApi(url, key, process)


@pytest.fixture(scope="session")
def scoring_api(trained_project, tmp_path_factory) -> Iterator[ScoringApi]:
    """The API shared by the front-end tests (generous rate limit)."""
    api = start_api(trained_project, tmp_path_factory.mktemp("frontend-api"))
    yield api
    api.process.stop()


@pytest.fixture(scope="session")
def test_applicants(trained_project) -> pd.DataFrame:
    """Real held-out applicants (features only, plain Python values)."""
    applicants = trained_project.applicants_test[list(FEATURE_COLUMNS)].head(40)
    return applicants.astype(object).reset_index(drop=True)


@pytest.fixture
def no_env_override(monkeypatch) -> None:
    """AppTest reads the API from st.secrets; the environment must not override it."""
    monkeypatch.delenv("QF_API_URL", raising=False)
    monkeypatch.delenv("QF_API_KEY", raising=False)
