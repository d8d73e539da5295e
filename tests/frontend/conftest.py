"""Fixtures of the front-end tests: real scoring API processes on trained models, and the app.

The APIs are `python -m quantumfinance_serving` on free ports, loading the registered models of
`trained_project` (German credit) and `cards_project` (the cards portfolio) from tests/conftest.py;
the Streamlit app reaches them over HTTP exactly as in production. Tests take every field name,
type and example from the contract the API publishes (`GET /v1/model`), never from code, so one
test runs unchanged on both portfolios (the `portfolio` fixture).
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from quantumfinance.contract import ApplicantContract
from quantumfinance_serving.keys import new_key
from tests.support.services import BackgroundProcess, free_port, unavailable

APP = Path(__file__).resolve().parents[2] / "src" / "quantumfinance_frontend" / "app.py"
PORTFOLIOS = ("german", "cards")
HELD_OUT = 40  # held-out applicants per portfolio the tests choose from
CHROMIUM = Path("/usr/bin/chromium")  # Debian's; never `playwright install`
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


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

    def model_info(self) -> dict:
        """GET /v1/model: the served model and its applicant contract."""
        response = requests.get(f"{self.url}/v1/model", headers={"x-api-key": self.key}, timeout=10)
        response.raise_for_status()
        return response.json()

    def contract(self) -> ApplicantContract:
        """The served model's applicant contract, as the front end reads it."""
        return ApplicantContract.from_dict(self.model_info()["contract"], origin=self.url)

    def score(self, applicant: dict) -> dict:
        """The API's own answer for an applicant: what the page must show."""
        response = requests.post(
            f"{self.url}/v1/score", json=applicant, headers={"x-api-key": self.key}, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def score_batch(self, applicants: list[dict]) -> list[dict]:
        """The API's own answers for many applicants, in order."""
        response = requests.post(
            f"{self.url}/v1/score/batch",
            json={"applicants": applicants},
            headers={"x-api-key": self.key},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()["results"]


@dataclass
class Portfolio:
    """One portfolio as the front-end tests see it: its API, contract and held-out applicants."""

    name: str
    api: ScoringApi
    contract: ApplicantContract
    applicants: list[dict[str, Any]]  # model inputs as JSON payloads (None = missing)


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


def payload_value(contract: ApplicantContract, name: str, value: Any) -> Any:
    """A table cell as the API's JSON wants it: None for missing, int / float / str by type."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    kind = contract.by_name[name].type
    if kind == "integer":
        return int(value)
    return float(value) if kind == "float" else str(value)


def held_out_payloads(project, contract: ApplicantContract, n: int = HELD_OUT) -> list[dict]:
    """The first `n` held-out applicants of a trained project, model inputs only."""
    frame = project.applicants_test[list(contract.feature_names)].head(n)
    return [
        {name: payload_value(contract, name, value) for name, value in record.items()}
        for record in frame.astype(object).to_dict(orient="records")
    ]


@pytest.fixture(scope="session")
def api_processes(trained_project, tmp_path_factory) -> Iterator[dict[str, ScoringApi]]:
    """All German-credit API processes the front-end tests need, started together (loads overlap).

    `main` is shared (generous limit); `limited` allows one score a minute (its limit covers every
    /v1/* call: the page's one cached GET /v1/model, then one score) and is stopped by the
    test that needs an API going away; `no_model` points at a model that does not exist.
    """
    log_dir = tmp_path_factory.mktemp("frontend-api")
    apis = {
        "main": launch_api(trained_project, log_dir),
        "limited": launch_api(trained_project, log_dir, QF_RATE_LIMIT="2/minute"),
        "no_model": launch_api(
            trained_project, log_dir, QF_MODEL_URI=str(log_dir / "no-such-model")
        ),
    }
    yield apis
    for api in apis.values():
        api.process.stop()


@pytest.fixture(scope="session")
def scoring_api(api_processes) -> ScoringApi:
    """The German-credit API shared by the front-end tests, model loaded."""
    return api_processes["main"].wait()


@pytest.fixture(scope="session")
def cards_api(cards_project, tmp_path_factory) -> Iterator[ScoringApi]:
    """An API on the cards portfolio's model: same code, another contract."""
    api = launch_api(cards_project, tmp_path_factory.mktemp("frontend-cards-api"))
    try:
        yield api.wait()
    finally:
        api.process.stop()


@pytest.fixture(scope="session")
def german_portfolio(scoring_api, trained_project) -> Portfolio:
    contract = scoring_api.contract()
    return Portfolio("german", scoring_api, contract, held_out_payloads(trained_project, contract))


@pytest.fixture(scope="session")
def cards_portfolio(cards_api, cards_project) -> Portfolio:
    contract = cards_api.contract()
    return Portfolio("cards", cards_api, contract, held_out_payloads(cards_project, contract))


@pytest.fixture(scope="session", params=PORTFOLIOS)
def portfolio(request) -> Portfolio:
    """Each shipped portfolio in turn: the tests using it must not name a column."""
    return request.getfixturevalue(f"{request.param}_portfolio")


@pytest.fixture(scope="session")
def test_applicants(german_portfolio) -> list[dict]:
    """Real held-out German-credit applicants (model inputs as API payloads)."""
    return german_portfolio.applicants


@pytest.fixture
def no_env_override(monkeypatch) -> None:
    """AppTest reads the API from st.secrets; the environment must not override it."""
    monkeypatch.delenv("QF_API_URL", raising=False)
    monkeypatch.delenv("QF_API_KEY", raising=False)


@pytest.fixture(scope="session")
def streamlit_on(tmp_path_factory) -> Iterator[Callable[[ScoringApi], str]]:
    """`streamlit_on(api)`: the URL of `streamlit run` of the app on that API (configured through
    QF_API_URL / QF_API_KEY, as in production); one server per API, shared by the session."""
    servers: dict[str, tuple[BackgroundProcess, str]] = {}

    def start(api: ScoringApi) -> str:
        if not CHROMIUM.exists():
            unavailable("Debian's chromium is not installed (apt-get install -y chromium)")
        if api.url not in servers:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            process = BackgroundProcess(
                [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
                 "--server.address", "127.0.0.1", "--server.headless", "true",
                 "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
                tmp_path_factory.mktemp("streamlit") / "streamlit.log",
                env={"QF_API_URL": api.url, "QF_API_KEY": api.key},
            )  # fmt: skip
            servers[api.url] = (process, url)
            process.wait_ready(
                lambda: requests.get(f"{url}/_stcore/health", timeout=2).status_code == 200,
                60,
                "Streamlit",
            )
        return servers[api.url][1]

    try:
        yield start
    finally:
        for process, _ in servers.values():
            process.stop()


@contextlib.contextmanager
def chromium_page(width: int, height: int) -> Iterator[Any]:
    """A Playwright page in headless Debian Chromium, closed afterwards."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()
