"""Fixtures of the serving tests: keys, in-process apps and API subprocesses on the trained models.

Everything runs against the real `trained_project` (German credit, tests/conftest.py): its
registry is only read; tests that move aliases or cut the registry off work on a copy of its
sqlite file. `cards_project` (the second shipped portfolio) is served from its model's files, so
that this process's MLflow client stays on the German store. Applicants come from the served
model's contract, never from a list of columns here.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from quantumfinance.contract import ApplicantContract
from quantumfinance_serving import Settings, create_app
from quantumfinance_serving.keys import new_key
from tests.conftest import mlflow_tracking
from tests.support.services import BackgroundProcess, free_port, port_open, wait_until

PYTHON = sys.executable


@dataclass(frozen=True)
class Keys:
    """Plain keys for the tests and the QF_API_KEYS value that configures (only) their hashes."""

    valid: str
    admin: str
    revoked: str  # minted like the others but not configured: must be refused
    config: str


@pytest.fixture(scope="session")
def keys() -> Keys:
    valid, valid_entry = new_key("loan-desk")
    admin, admin_entry = new_key("ops")
    revoked, _ = new_key("former-partner")
    return Keys(valid, admin, revoked, f"{valid_entry},{admin_entry}")


@pytest.fixture(scope="session")
def tracking(trained_project) -> Iterator[str]:
    """Point this process's MLflow client at the trained project's registry (restored after).

    Session-wide (the in-process APIs follow it while they live): a test elsewhere that reads a
    registry names it (`MlflowClient(uri, registry_uri=uri)`), or it would read this one."""
    with mlflow_tracking(trained_project.tracking_uri):
        yield trained_project.tracking_uri


def make_settings(keys: Keys, audit_path: Path, **overrides) -> Settings:
    values = {
        "api_keys": keys.config,
        "admin_key_ids": "ops",
        "rate_limit": "100000/minute",
        "auth_failure_limit": "100000/minute",
        "audit_path": audit_path,
        "reload_interval_seconds": 0,
        **overrides,
    }
    return Settings(**values)


@contextmanager
def running_app(settings: Settings, wait_ready: bool = True) -> Iterator[TestClient]:
    """An in-process app with its lifespan started (model loading in the background)."""
    with TestClient(create_app(settings)) as client:
        if wait_ready:
            wait_until(lambda: client.get("/ready").status_code == 200, 120, "model load")
        yield client


@pytest.fixture(scope="session")
def api(tracking, keys, tmp_path_factory) -> Iterator[TestClient]:
    """The shared app: high limits, JSONL audit, the champion model loaded."""
    audit = tmp_path_factory.mktemp("audit") / "decisions.jsonl"
    with running_app(make_settings(keys, audit)) as client:
        client.audit_path = audit  # type: ignore[attr-defined]
        yield client


@pytest.fixture(scope="session")
def contract(trained_project) -> ApplicantContract:
    """The German model's applicant contract: where the tests take applicants and fields from."""
    assert trained_project.contract is not None
    return trained_project.contract


@pytest.fixture(scope="session")
def local_model_dir(tracking, trained_project, tmp_path_factory) -> Path:
    """The champion's files downloaded once: API subprocesses load it by path, no registry."""
    import mlflow  # noqa: PLC0415

    target = tmp_path_factory.mktemp("champion")
    return Path(mlflow.artifacts.download_artifacts(trained_project.model_uri, dst_path=target))


@pytest.fixture(scope="session")
def cards_model_dir(tracking, cards_project, tmp_path_factory) -> Path:
    """The cards champion's files (read from the cards store, then served by path)."""
    import mlflow  # noqa: PLC0415

    target = tmp_path_factory.mktemp("cards_champion")
    with cards_project.tracking():
        return Path(mlflow.artifacts.download_artifacts(cards_project.model_uri, dst_path=target))


@pytest.fixture(scope="session")
def cards_api(keys, cards_model_dir, tmp_path_factory) -> Iterator[TestClient]:
    """An app serving the cards model (high limits, JSONL audit)."""
    audit = tmp_path_factory.mktemp("cards_audit") / "decisions.jsonl"
    with running_app(make_settings(keys, audit, model_uri=str(cards_model_dir))) as client:
        client.audit_path = audit  # type: ignore[attr-defined]
        yield client


class ApiProcess(BackgroundProcess):
    """`python -m quantumfinance_serving` on a free port."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [PYTHON, "-m", "quantumfinance_serving"],
            log_dir / f"api-{self.port}.log",
            env={"QF_PORT": str(self.port), "QF_HOST": "127.0.0.1", **env},
        )

    def wait_ready(self, timeout: float = 150) -> None:  # type: ignore[override]
        super().wait_ready(
            lambda: httpx.get(f"{self.url}/ready", timeout=2).status_code == 200,
            timeout,
            f"API on port {self.port}",
        )

    def wait_alive(self, timeout: float = 90) -> None:
        super().wait_ready(lambda: port_open(self.port), timeout, f"API on port {self.port}")


def api_without_model(tmp: Path, keys: Keys, **env: str) -> ApiProcess:
    """A started API process whose model directory is missing: everything before scoring (the
    server's connection limits, key check, rate limits, metrics) works; /ready stays 503."""
    api = ApiProcess(
        tmp,
        {
            "QF_MODEL_URI": str(tmp / "no-model-here"),
            "QF_API_KEYS": keys.config,
            "QF_AUDIT_PATH": str(tmp / "audit.jsonl"),
            "QF_RELOAD_INTERVAL_SECONDS": "0",
            **env,
        },
    )
    api.wait_alive()
    return api


@pytest.fixture
def world_readable_tmp() -> Iterator[Path]:
    """A tmp dir PostgreSQL's service user can reach (pytest's tmp_path is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="qf-serving-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@contextmanager
def uvicorn_in_thread(settings: Settings, app=None, wait_ready: bool = True) -> Iterator[str]:
    """A real uvicorn server, configured as `python -m quantumfinance_serving` configures it
    (h11 header cap, no proxy headers), in a thread of this process (MLflow imported once)."""
    import threading  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415

    from quantumfinance_serving.server import server_config  # noqa: PLC0415

    port = free_port()
    config = server_config(
        settings, app or create_app(settings), host="127.0.0.1", port=port, log_config=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    probe = "/ready" if wait_ready else "/health"
    try:
        wait_until(lambda: httpx.get(f"{url}{probe}", timeout=2).status_code == 200, 120, "API")
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def served_over_http(settings: Settings) -> Iterator[str]:
    """A real uvicorn server with the model loaded."""
    with uvicorn_in_thread(settings) as url:
        yield url


def stub_app(settings: Settings, contract: ApplicantContract, version: str = "1"):
    """An app whose store already holds a stand-in model with ``contract`` (nothing to load:
    QF_MODEL_URI should name a missing directory so the background load fails fast)."""
    from tests.serving.helpers import stub_model  # noqa: PLC0415

    app = create_app(settings)
    app.state.store.current = stub_model(contract, version)
    return app
