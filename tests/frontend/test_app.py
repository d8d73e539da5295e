"""Streamlit AppTest of every page against a real scoring API process on the trained model."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pytest
import requests
from streamlit.testing.v1 import AppTest

from quantumfinance.applicant_schema import BY_NAME, FEATURE_COLUMNS, ID_COLUMN
from tests.frontend.conftest import APP, ScoringApi

pytestmark = pytest.mark.usefixtures("no_env_override")


def open_app(url: str, key: str | None) -> AppTest:
    """The whole multipage app (sidebar + default page) configured through st.secrets."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["api_url"] = url
    if key is not None:
        at.secrets["api_key"] = key
    return at.run()


def texts(at: AppTest) -> str:
    """Everything written on the page as markdown, errors, warnings, successes and captions."""
    parts = [e.value for kind in ("markdown", "caption", "error", "warning", "success", "info")
             for e in getattr(at, kind)]  # fmt: skip
    return "\n".join(str(p) for p in parts)


def chart_data(chart) -> pd.DataFrame:
    """The rows an Altair chart on the page was drawn from (Streamlit ships them as Arrow)."""
    frames = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.proto.datasets]
    return pd.concat(frames, ignore_index=True)


def fill_and_submit(at: AppTest, applicant: dict) -> AppTest:
    """Enter an applicant in the form (each widget keyed by its contract name) and submit it."""
    for name in FEATURE_COLUMNS:
        if BY_NAME[name].is_categorical:
            at.selectbox(key=name).set_value(applicant[name])
        else:
            at.number_input(key=name).set_value(int(applicant[name]))
    next(b for b in at.button if b.label == "Score applicant").click()
    return at.run()


def as_payload(row: pd.Series) -> dict:
    return {k: (int(v) if BY_NAME[k].minimum is not None else str(v)) for k, v in row.items()}


@pytest.fixture(scope="module")
def declined_applicant(scoring_api: ScoringApi, test_applicants) -> tuple[dict, dict]:
    """A real held-out applicant the model does not approve outright, with reasons to show."""
    candidates = [as_payload(row) for _, row in test_applicants.iterrows()]
    scored = [(a, scoring_api.score(a)) for a in candidates]
    with_reasons = [s for s in scored if len(s[1]["reason_codes"]) >= 2]
    not_approved = [s for s in with_reasons if s[1]["decision"] != "approve"]
    return (not_approved or with_reasons)[0]


def test_scored_applicant_shows_decision_reasons_and_model(scoring_api, declined_applicant):
    applicant, expected = declined_applicant
    at = fill_and_submit(open_app(scoring_api.url, scoring_api.key), applicant)

    assert not at.exception
    page = texts(at)
    assert f"Decision: {expected['decision'].upper()}" in page
    for rank, reason in enumerate(expected["reason_codes"], start=1):
        assert f"{rank}. **{reason['code']}** — {reason['text']}" in page
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Score"] == str(expected["score"])
    assert metrics["Band"] == expected["band"]
    assert metrics["Probability of default"] == f"{expected['pd']:.1%}"
    version = expected["model"]["version"]
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert f"credit-score v{version}" in sidebar
    assert f"v{version}" in page  # under the decision
    gauge, reasons = at.get("vega_lite_chart")  # score gauge + ranked reasons
    # The gauge draws the model's own bands (published by /v1/model) around the score.
    assert f"{expected['band']} · {expected['decision']}" in chart_data(gauge)["label"].tolist()
    assert "does not publish the band cutoffs" not in page
    assert len(chart_data(reasons)) == len(expected["reason_codes"])


def test_batch_reports_the_bad_row_and_field_and_scores_the_rest(scoring_api, test_applicants):
    upload = test_applicants.head(25).copy()
    upload.insert(0, ID_COLUMN, [f"A-{i:03d}" for i in range(25)])
    upload = upload.astype(str)
    upload.loc[6, "credit_amount"] = "250000"  # above the contract's 100,000 DM
    content = upload.to_csv(index=False).encode()

    at = open_app(scoring_api.url, scoring_api.key)
    at.switch_page("views/batch_scoring.py").run()
    at.file_uploader(key="applicants_csv").set_value(("applicants.csv", content, "text/csv"))
    at.run()

    assert not at.exception
    problems, scored = (d.value for d in at.dataframe)
    assert problems[["row", "field"]].values.tolist() == [[7, "credit_amount"]]
    assert "250000 is outside 100–100000" in problems.loc[0, "problem"]
    assert "1 row(s) were not scored" in texts(at)
    assert "24 applicant(s) scored" in texts(at)
    good = upload.drop(index=6)
    assert scored["row"].tolist() == [i + 1 for i in good.index]
    assert scored[ID_COLUMN].tolist() == good[ID_COLUMN].tolist()
    expected = requests.post(
        f"{scoring_api.url}/v1/score/batch",
        json={"applicants": [as_payload(r) for _, r in good[list(FEATURE_COLUMNS)].iterrows()]},
        headers={"x-api-key": scoring_api.key},
        timeout=60,
    ).json()["results"]
    assert scored["decision"].tolist() == [r["decision"] for r in expected]
    assert scored["score"].tolist() == [r["score"] for r in expected]
    downloads = at.get("download_button")
    assert len(downloads) == 2  # template + scored CSV


def test_model_page_shows_version_and_metrics(scoring_api):
    info = requests.get(
        f"{scoring_api.url}/v1/model", headers={"x-api-key": scoring_api.key}, timeout=10
    ).json()
    at = open_app(scoring_api.url, scoring_api.key)
    at.switch_page("views/model.py").run()

    assert not at.exception
    assert f"credit-score v{info['version']}" in at.subheader[0].value
    shown = {m.label: m.value for m in at.main.metric}
    assert info["metrics"], "the API should report the training run's metrics"
    for name, value in info["metrics"].items():
        assert shown[name.replace("_", " ")] == f"{value:.3f}"
    # the reporting plots of the model's run, fetched from the API with the key
    assert len(info["plots"]) == 4, info["plots"]
    captions = [caption for image in at.main.image for caption in image.captions]
    assert captions == list(info["plots"]), captions
    assert all(url for image in at.main.image for url in image.value)


def test_wrong_key_is_explained_not_traced(scoring_api, declined_applicant):
    at = fill_and_submit(open_app(scoring_api.url, "qf_not-a-real-key"), declined_applicant[0])

    assert not at.exception
    assert any("Access denied" in e.value for e in at.main.error)
    assert "API key was refused" in texts(at)


def test_rate_limit_then_api_stopped(api_processes, declined_applicant):
    api = api_processes["limited"].wait()
    try:
        at = fill_and_submit(open_app(api.url, api.key), declined_applicant[0])
        assert "Decision:" in texts(at)
        fill_and_submit(at, declined_applicant[0])  # second request within the minute

        assert not at.exception
        warning = " ".join(w.value for w in at.main.warning)
        assert "Too many requests" in warning
        assert "Please wait" in warning and "seconds" in warning
    finally:
        api.process.stop()

    at.run()  # the officer clicks on: the API is gone
    assert not at.exception
    assert any("API down" in e.value for e in at.sidebar.error)
    at.switch_page("views/model.py").run()
    assert not at.exception
    assert any("scoring service is unavailable" in e.value for e in at.main.error)
    assert "Traceback" not in texts(at)


def test_model_not_loaded_is_a_friendly_503(api_processes, test_applicants):
    api = api_processes["no_model"].wait(ready=False)
    assert requests.get(f"{api.url}/ready", timeout=5).status_code == 503
    at = fill_and_submit(open_app(api.url, api.key), as_payload(test_applicants.iloc[0]))

    assert not at.exception
    assert any("API up, model not available" in w.value for w in at.sidebar.warning)
    assert any("model is not ready" in w.value for w in at.main.warning)


def test_template_is_a_valid_upload():
    from quantumfinance_frontend.applicant_fields import (  # noqa: PLC0415
        read_applicants_csv,
        template_csv,
        validate_applicants,
    )

    frame = read_applicants_csv(template_csv())
    positions, payloads, problems = validate_applicants(frame)
    assert (positions, problems) == ([0], [])
    assert list(payloads[0]) == list(FEATURE_COLUMNS)
    assert pd.read_csv(io.BytesIO(template_csv())).columns[0] == ID_COLUMN
