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
    """A started API process, its URL and a valid plain key."""

    url: str
    key: str
    process: BackgroundProcess

    def wait(self, ready: bool = True) -> ScoringApi:
        """Until /ready answers 200 (model loaded) — or only /health, for a model that can't load."""
        probe = "/ready" if ready else "/health"
        self.process.wait_ready(
            lambda: requests.get(self.url + probe, timeout=2).status_code == 200,
            150,
            f"scoring API {self.url}",
        )
        return self

    def score(self, applicant: dict) -> dict:
        """The API's own answer for an applicant: what the page must show."""
        response = requests.post(
            f"{self.url}/v1/score", json=applicant, headers={"x-api-key": self.key}, timeout=30
        )
        response.raise_for_status()
        return response.json()


def launch_api(project, log_dir: Path, **settings: str) -> ScoringApi:
    """Start `python -m quantumfinance_serving` on the trained model (call .wait() before use)."""
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
    return ScoringApi(f"http://127.0.0.1:{port}", key, process)


@pytest.fixture(scope="session")
def api_processes(trained_project, tmp_path_factory) -> Iterator[dict[str, ScoringApi]]:
    """All API processes the front-end tests need, started together so their loads overlap.

    `main` is shared (generous limit); `limited` allows one score a minute and is stopped by the
    test that needs an API going away; `no_model` points at a model that does not exist.
    """
    log_dir = tmp_path_factory.mktemp("frontend-api")
    apis = {
        "main": launch_api(trained_project, log_dir),
        "limited": launch_api(trained_project, log_dir, QF_RATE_LIMIT="1/minute"),
        "no_model": launch_api(
            trained_project, log_dir, QF_MODEL_URI=str(log_dir / "no-such-model")
        ),
    }
    yield apis
    for api in apis.values():
        api.process.stop()


@pytest.fixture(scope="session")
def scoring_api(api_processes) -> ScoringApi:
    """The API shared by the front-end tests, model loaded."""
    return api_processes["main"].wait()


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
