"""Model store: readiness, hot reload under load, a failed reload, a registry outage."""

from __future__ import annotations

import shutil
import threading
import time
from collections import defaultdict
from pathlib import Path

import mlflow

from tests.conftest import mlflow_tracking
from tests.serving.conftest import make_settings, running_app
from tests.support.services import wait_until


def test_bad_model_uri_is_not_ready_but_alive(keys, tracking, contract, tmp_path):
    settings = make_settings(keys, tmp_path / "a.jsonl", model_uri=str(tmp_path / "no-such-model"))
    with running_app(settings, wait_ready=False) as client:
        wait_until(lambda: client.app.state.store.last_error is not None, 60, "failed load")
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable"
        assert str(tmp_path) not in ready.text  # no server path without a key
        keyed = client.get("/ready", headers={"x-api-key": keys.valid})
        assert "no-such-model" in keyed.json()["detail"]  # the reason, for key holders
        score = client.post(
            "/v1/score", json=contract.example_applicant(), headers={"x-api-key": keys.valid}
        )
        assert score.status_code == 503
        assert "model not ready" in score.json()["detail"]
        assert str(tmp_path) not in score.text
        metrics = client.get("/metrics", headers={"x-api-key": keys.valid}).text
        assert "qf_model_reload_failures_total 1.0" in metrics


def test_health_answers_before_the_model_is_loaded(keys, tracking, contract, tmp_path):
    settings = make_settings(keys, tmp_path / "a.jsonl")
    started = time.monotonic()
    with running_app(settings, wait_ready=False) as client:
        assert client.get("/health").status_code == 200
        assert time.monotonic() - started < 5  # loading happens in the background
        wait_until(lambda: client.get("/ready").status_code == 200, 120, "model load")
        info = client.get("/v1/model", headers={"x-api-key": keys.valid}).json()
        assert info["name"] == "credit-score" and info["alias"] == "champion"
        assert info["run_id"] and info["metrics"], info  # training metrics of the run
        assert any("auc" in name.lower() for name in info["metrics"])
        # the model's own policy, published for display (e.g. the front end's score gauge)
        assert {"bands", "decisions"} <= set(info["policy"]), info["policy"]
        # the applicant contract the model carries: what /v1/score validates against
        assert info["contract"] == contract.as_dict()
        assert info["contract_digest"] == contract.digest


def test_alias_move_under_load_then_registry_outage(
    keys, trained_project, contract, tmp_path, monkeypatch
):
    """Zero errors while the alias moves; then the registry disappears and scoring goes on."""
    source = Path(trained_project.tracking_uri.removeprefix("sqlite:///"))
    db = tmp_path / "registry" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy2(source, db)
    # One connection per call, so that removing the file really cuts the registry off.
    monkeypatch.setenv("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "NullPool")
    uri = f"sqlite:///{db}"
    with mlflow_tracking(uri):
        client_mlflow = mlflow.MlflowClient()
        champion = client_mlflow.get_model_version_by_alias("credit-score", "champion")
        settings = make_settings(keys, tmp_path / "a.jsonl", reload_interval_seconds=0.3)
        with running_app(settings) as client:
            headers = {"x-api-key": keys.valid}
            seen: dict[int, list[str]] = defaultdict(list)
            errors: list[str] = []
            stop = threading.Event()

            def load(worker: int) -> None:
                while not stop.is_set():
                    response = client.post(
                        "/v1/score", json=contract.example_applicant(), headers=headers
                    )
                    if response.status_code != 200:
                        errors.append(f"{response.status_code}: {response.text[:200]}")
                    else:
                        seen[worker].append(response.json()["model"]["version"])

            threads = [threading.Thread(target=load, args=(i,)) for i in range(6)]
            for thread in threads:
                thread.start()
            try:
                time.sleep(0.5)
                new = client_mlflow.create_model_version(  # a complete registration's tags
                    "credit-score", source=champion.source, run_id=champion.run_id,
                    tags=dict(champion.tags),
                )  # fmt: skip
                wait_until(
                    lambda: client_mlflow.get_model_version("credit-score", new.version).status
                    == "READY",
                    30,
                    "new model version",
                )
                client_mlflow.set_registered_model_alias("credit-score", "champion", new.version)
                wait_until(
                    lambda: all(s and s[-1] == str(new.version) for s in seen.values()),
                    90,
                    "every client on the new version",
                )
                time.sleep(0.3)
            finally:
                stop.set()
                for thread in threads:
                    thread.join()
            assert not errors, errors[:5]
            for versions in seen.values():
                switch = versions.index(str(new.version))
                assert set(versions[:switch]) <= {str(champion.version)}
                assert set(versions[switch:]) == {str(new.version)}, "went back to the old model"
            assert sum(str(champion.version) == v for s in seen.values() for v in s) > 0

            # The registry goes away: polls and reloads fail, the loaded model keeps scoring.
            db.unlink()
            db.mkdir()  # sqlite cannot open a directory: every registry call now fails
            reload = client.post("/v1/admin/reload", headers={"x-api-key": keys.admin})
            assert reload.status_code == 502
            assert "still serving" in reload.json()["detail"]
            for _ in range(20):
                response = client.post(
                    "/v1/score", json=contract.example_applicant(), headers=headers
                )
                assert response.status_code == 200, response.text
                assert response.json()["model"]["version"] == str(new.version)
            info = client.get("/v1/model", headers=headers).json()
            assert info["version"] == str(new.version)
            assert info["last_reload_error"], "the failed reload must be reported"
            ready = client.get("/ready")  # scores still succeed: degraded, not down
            assert (ready.status_code, ready.json()["status"]) == (200, "degraded")
