"""The Monitoring page: GET /v1/monitoring (behind the API key) serves the latest monitoring run
of the served model's versions from MLflow; AppTest and Chromium render it (status, stability
bars with thresholds, overlaid score distributions, back-test table)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import requests
from streamlit.testing.v1 import AppTest

from quantumfinance.pipelines.batch_scoring.nodes import resolve_scoring_model, score_book
from tests.conftest import close_stale_mlflow_runs, run_pipelines
from tests.frontend.conftest import APP, chromium_page

LOCAL = {"local_cluster": {"n_workers": 1, "processes": False, "dashboard_address": ":0"}}

pytestmark = pytest.mark.usefixtures("no_env_override")


@pytest.fixture(scope="module")
def monitoring_run(trained_project, tmp_path_factory) -> dict:
    """The held-out split scored and monitored (with planted outcomes) through Kedro."""
    folder = tmp_path_factory.mktemp("monitoring_page")
    book = trained_project.applicants_test
    book.to_parquet(folder / "book.parquet")
    with trained_project.tracking():
        model = resolve_scoring_model(trained_project.model_uri)
        storage = {"portfolio": str(folder / "book.parquet"), "output": str(folder / "scored")}
        score_book(model, {}, storage, LOCAL)
    id_name, target = trained_project.contract.id.name, trained_project.contract.target.name
    outcomes = pd.DataFrame(
        {id_name: book[id_name], "defaulted": book[target], "as_of_date": "2026-10-31"}
    )
    outcomes.to_parquet(folder / "outcomes.parquet")
    params = {"monitoring": {"outcomes": {"path": str(folder / "outcomes.parquet")}},
              "monitoring_storage": {"scored_book": str(folder / "scored")},
              "dask_engine": LOCAL}  # fmt: skip
    run_pipelines(trained_project.root, trained_project.tracking_uri, ["monitoring"], params)
    close_stale_mlflow_runs()
    return {"model": model, "outcomes": outcomes}


def _monitoring(api, key: str | None) -> requests.Response:
    headers = {"x-api-key": key} if key else {}
    return requests.get(f"{api.url}/v1/monitoring", headers=headers, timeout=30)


def test_api_serves_the_latest_monitoring_run_behind_the_key(scoring_api, monitoring_run):
    assert _monitoring(scoring_api, None).status_code == 401
    answer = _monitoring(scoring_api, scoring_api.key).json()
    run = answer["runs"][0]
    assert run["model_version"] == monitoring_run["model"]["version"]
    assert run["status"] in ("stable", "monitor", "shift")
    backtest = pd.DataFrame(run["backtest"]).set_index("segment")
    outcomes = monitoring_run["outcomes"]
    assert backtest.loc["all", "applicants"] == len(outcomes)
    assert backtest.loc["all", "observed_default_rate"] == pytest.approx(
        outcomes["defaulted"].mean()
    )
    assert {"development", "book"} == set(run["score_distribution"])


def test_monitoring_page_renders_the_latest_run(scoring_api, monitoring_run):
    run = _monitoring(scoring_api, scoring_api.key).json()["runs"][0]
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["api_url"], at.secrets["api_key"] = scoring_api.url, scoring_api.key
    at.run()
    at.switch_page("views/monitoring.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.main.metric}
    assert metrics["Status"] == run["status"]
    assert metrics["Applicants"] == f"{run['rows']:,}"
    assert len(at.get("vega_lite_chart")) == 2  # stability bars + score distributions
    table = at.main.dataframe[0].value
    assert table["segment"].tolist() == [row["segment"] for row in run["backtest"]]
    np.testing.assert_allclose(
        table["observed_default_rate"], [r["observed_default_rate"] for r in run["backtest"]]
    )


def test_monitoring_page_in_chromium(streamlit_on, scoring_api, monitoring_run, tmp_path):
    from playwright.sync_api import expect  # noqa: PLC0415

    run = _monitoring(scoring_api, scoring_api.key).json()["runs"][0]
    with chromium_page(1400, 1600) as page:
        page.goto(f"{streamlit_on(scoring_api)}/monitoring")
        expect(page.get_by_role("heading", name="Monitoring")).to_be_visible(timeout=30_000)
        expect(page.get_by_test_id("stMetricValue").first).to_have_text(
            run["status"], timeout=30_000
        )
        charts = page.get_by_test_id("stVegaLiteChart")
        expect(charts).to_have_count(2, timeout=30_000)
        expect(charts.locator("svg, canvas").first).to_be_visible()
        expect(page.get_by_text("Back-test")).to_be_visible()
        page.screenshot(path=str(tmp_path / "monitoring.png"), full_page=True)
    assert (tmp_path / "monitoring.png").stat().st_size > 20_000
