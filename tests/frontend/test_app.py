"""Streamlit AppTest of every page against real scoring API processes on trained models.

Tests marked with the `portfolio` fixture run once on German credit and once on the cards
portfolio with the same code: fields, examples and bounds come from the API's contract.
"""

from __future__ import annotations

import math
import re

import pandas as pd
import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from quantumfinance.contract import ApplicantContract
from quantumfinance_frontend.applicant_fields import (
    MISSING_LABEL,
    category_label,
    missing_key,
)
from tests.frontend.conftest import APP, Portfolio

pytestmark = pytest.mark.usefixtures("no_env_override")
_chosen: dict[str, tuple[dict, dict]] = {}


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


def fill_and_submit(at: AppTest, applicant: dict, contract: ApplicantContract) -> AppTest:
    """Enter an applicant in the form (each widget keyed by its contract name) and submit it."""
    for spec in contract.features:
        value = applicant[spec.name]
        if spec.is_categorical:
            box = at.selectbox(key=spec.name)
            box.set_value(MISSING_LABEL if value is None else value)
            continue
        if spec.nullable:
            at.checkbox(key=missing_key(spec.name)).set_value(value is None)
        if value is not None:
            at.number_input(key=spec.name).set_value(
                int(value) if spec.type == "integer" else float(value)
            )
    next(b for b in at.button if b.label == "Score applicant").click()
    return at.run()


def has_form(at: AppTest) -> bool:
    return any(b.label == "Score applicant" for b in at.button)


def chosen_applicant(portfolio: Portfolio) -> tuple[dict, dict]:
    """A real held-out applicant with reasons to show: preferably one with a missing value
    (the cards portfolio has nullable fields) that the model does not approve outright."""
    if portfolio.name not in _chosen:
        scored = [(a, portfolio.api.score(a)) for a in portfolio.applicants]

        def rank(item: tuple[dict, dict]) -> tuple[bool, bool, bool]:
            applicant, result = item
            return (
                len(result["reason_codes"]) < 2,
                None not in applicant.values(),
                result["decision"] == "approve",
            )

        _chosen[portfolio.name] = min(scored, key=rank)
    return _chosen[portfolio.name]


def test_form_is_drawn_from_the_served_contract(portfolio):
    contract = portfolio.contract
    at = open_app(portfolio.api.url, portfolio.api.key)

    assert not at.exception
    widgets = {w.key: w for w in [*at.main.selectbox, *at.main.number_input]}
    assert sorted(widgets) == sorted(contract.feature_names)  # model inputs only
    sections = [s.value for s in at.main.subheader]
    for spec in contract.features:
        widget = widgets[spec.name]
        assert widget.label == spec.title
        assert f"`{spec.name}`" in widget.help
        if spec.is_categorical:
            expected = [category_label(spec, v) for v in spec.categories]
            assert widget.options == expected + ([MISSING_LABEL] if spec.nullable else [])
            assert widget.value == spec.default_example
        else:
            assert widget.value == spec.default_example
            assert (widget.min, widget.max) == (spec.minimum, spec.maximum)
            assert isinstance(widget.value, float) == (spec.type == "float")
            if spec.nullable:
                assert at.checkbox(key=missing_key(spec.name)).value is False
        assert spec.section in sections
    assert contract.portfolio.name in texts(at)


def approved_applicant(portfolio: Portfolio) -> tuple[dict, dict]:
    """A real held-out applicant the model approves."""
    scored = [(a, portfolio.api.score(a)) for a in portfolio.applicants]
    approved = [item for item in scored if item[1]["decision"] == "approve"]
    assert approved, "no approval among the held-out applicants"
    return approved[0]


def shown_value(spec, value) -> list[str]:
    """How a reason text may name an applicant's value: its category label (or raw value), the
    number as written with thousands separators (or bare), or a word for missing."""
    if value is None:
        return ["not given", "missing", "unknown"]
    if spec.is_categorical:
        return [category_label(spec, value), str(value)]
    number = float(value)
    return [f"{number:,.2f}".rstrip("0").rstrip("."), f"{number:.2f}".rstrip("0").rstrip(".")]


def test_scored_applicant_shows_decision_reasons_and_model(portfolio):
    applicant, expected = chosen_applicant(portfolio)
    api, contract = portfolio.api, portfolio.contract
    at = fill_and_submit(open_app(api.url, api.key), applicant, contract)

    assert not at.exception
    page = texts(at)
    assert expected["decision"] != "approve"  # chosen_applicant prefers review / decline
    assert f"Decision: {expected['decision'].upper()}" in page
    assert "Adverse-action reasons, strongest first" in [s.value for s in at.main.subheader]
    titles = [contract.by_name[r["code"].lower()].title for r in expected["reason_codes"]]
    for rank, (reason, title) in enumerate(
        zip(expected["reason_codes"], titles, strict=True), start=1
    ):
        assert f"{rank}. **{title}** — {reason['text']}" in page
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Score"] == str(expected["score"])
    assert metrics["Band"] == expected["band"]
    assert metrics["Probability of default"] == f"{expected['pd']:.1%}"
    version = expected["model"]["version"]
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert f"credit-score v{version}" in sidebar
    assert f"v{version}" in page  # under the decision
    gauge, reasons = at.get("vega_lite_chart")  # score gauge + ranked reasons
    # The gauge draws the model's own bands (published by /v1/model) around the score, with
    # ticks at the cutoffs only (inside the drawn range: no clipped labels at the edges).
    assert f"{expected['band']} · {expected['decision']}" in chart_data(gauge)["label"].tolist()
    assert '"values"' in gauge.proto.spec
    assert "does not publish the band cutoffs" not in page
    drawn = chart_data(reasons)
    assert drawn["reason"].tolist() == [f"{i}. {t}" for i, t in enumerate(titles, start=1)]
    if all(r.get("points") is not None for r in expected["reason_codes"]):
        assert drawn["points"].tolist() == [abs(r["points"]) for r in expected["reason_codes"]]
        assert "Score points lost against the best group" in reasons.proto.spec


def test_reasons_of_a_declined_applicant_name_their_values(portfolio):
    """Each adverse-action reason names the applicant's group: its category's label, or the
    range of the bin the applicant's number falls in (texts are rendered per bin)."""
    applicant, expected = chosen_applicant(portfolio)
    assert expected["reason_codes"]
    for reason in expected["reason_codes"]:
        spec = portfolio.contract.by_name[reason["code"].lower()]
        value = applicant[spec.name]
        assert reason["text"].startswith(spec.title), reason
        group = reason["text"][len(spec.title) :].split(":")[0]
        if spec.is_categorical or value is None:
            named = shown_value(spec, value)
            assert any(v.lower() in group.lower() for v in named), (reason, named)
            continue
        bounds = [float(n.replace(",", "")) for n in re.findall(r"-?\d[\d,]*(?:\.\d+)?", group)]
        high = math.inf if "or more" in group else max(bounds)
        assert min(bounds) <= value <= high, (reason, value)


def test_an_approved_applicant_shows_positive_factors_not_adverse_reasons(german_portfolio):
    applicant, expected = approved_applicant(german_portfolio)
    api, contract = german_portfolio.api, german_portfolio.contract
    at = fill_and_submit(open_app(api.url, api.key), applicant, contract)

    assert not at.exception
    page = texts(at)
    assert "Decision: APPROVE" in page
    subheaders = [s.value for s in at.main.subheader]
    assert "Strongest positive factors" in subheaders
    assert not [s for s in subheaders if "Adverse" in s]
    for reason in expected["reason_codes"]:  # the API's adverse reasons are not shown
        assert reason["text"] not in page
    factors = expected.get("positive_factors") or []
    for factor in factors:
        assert factor["text"] in page
    if not factors:  # an API without positive factors (older model)
        assert "no positive factors" in page


def as_cell(value) -> str:
    """How a spreadsheet writes a payload value: an empty cell for missing."""
    return "" if value is None else str(value)


def test_batch_reports_the_bad_rows_and_fields_and_scores_the_rest(portfolio):
    contract, api = portfolio.contract, portfolio.api
    payloads = [dict(a) for a in portfolio.applicants[:25]]
    numeric = next(c for c in contract.features if not c.is_categorical)
    required = next(c for c in contract.features if not c.nullable)
    too_big = numeric.maximum * 2 + 1
    too_big = int(too_big) if numeric.type == "integer" else float(too_big)
    for spec in contract.features:
        if spec.nullable:  # an empty cell is a missing value where the contract allows it
            payloads[3][spec.name] = None
    upload = pd.DataFrame([{k: as_cell(v) for k, v in p.items()} for p in payloads])
    upload.insert(0, contract.id.name, [f"A-{i:03d}" for i in range(25)])
    upload[contract.target.name] = "x"  # outcomes a desk may still have in its sheet
    upload.loc[6, numeric.name] = str(too_big)
    upload.loc[9, required.name] = ""
    content = upload.to_csv(index=False).encode()

    at = open_app(api.url, api.key)
    at.switch_page("views/batch_scoring.py").run()
    at.file_uploader(key="applicants_csv").set_value(("applicants.csv", content, "text/csv"))
    at.run()

    assert not at.exception
    problems, scored = (d.value for d in at.dataframe)
    assert problems[["row", "field"]].values.tolist() == [[7, numeric.name], [10, required.name]]
    assert problems["label"].tolist() == [numeric.title, required.title]
    assert problems["problem"].tolist() == [numeric.problem(too_big), "is empty"]
    assert "above the maximum" in problems.loc[0, "problem"]
    assert f"Not used for scoring (kept in the results): `{contract.target.name}`" in texts(at)
    assert "2 row(s) were not scored" in texts(at)
    assert "23 applicant(s) scored" in texts(at)
    good = [i for i in range(25) if i not in (6, 9)]
    assert scored.columns[:3].tolist() == [contract.id.name, "decision", "score"]
    assert scored["row"].tolist() == [i + 1 for i in good]
    assert scored[contract.id.name].tolist() == upload.loc[good, contract.id.name].tolist()
    assert (scored[contract.target.name] == "x").all()
    expected = api.score_batch([payloads[i] for i in good])
    assert scored["decision"].tolist() == [r["decision"] for r in expected]
    assert scored["score"].tolist() == [r["score"] for r in expected]
    downloads = at.get("download_button")
    assert len(downloads) == 2  # template + scored CSV


def test_model_page_shows_a_summary_and_folds_the_figures_away(scoring_api):
    info = scoring_api.model_info()
    at = open_app(scoring_api.url, scoring_api.key)
    at.switch_page("views/model.py").run()

    assert not at.exception
    assert f"credit-score v{info['version']}" in at.subheader[0].value
    metrics = info["metrics"]
    assert metrics, "the API should report the training run's metrics"
    # the summary: three headline figures (test) with their cross-validated mean and spread
    shown = {m.label: m.value for m in at.main.metric}
    headline = {"AUC (test)": "test_auc", "KS (test)": "test_ks", "Gini (test)": "test_gini"}
    assert shown == {label: f"{metrics[name]:.3f}" for label, name in headline.items()}
    spread = f" ± {metrics['cv_auc_std']:.3f}" if "cv_auc_std" in metrics else ""
    assert f"CV {metrics['cv_auc']:.3f}{spread}" in texts(at)
    assert info["contract"]["portfolio"]["name"] in texts(at)
    # the reporting plots of the model's run, fetched from the API with the key
    assert len(info["plots"]) == 4, info["plots"]
    captions = [caption for image in at.main.image for caption in image.captions]
    assert captions == list(info["plots"]), captions
    assert all(url for image in at.main.image for url in image.value)
    # every figure, folded away; then the contract the model was trained on
    labels = [e.label for e in at.main.expander]
    assert f"All {len(metrics)} training figures" in labels
    table, contract = (d.value for d in at.main.dataframe)
    assert sorted(table["figure"]) == sorted(metrics)
    assert contract["column"].tolist() == [
        c["name"] for c in info["contract"]["characteristics"] if c.get("use_in_model", True)
    ]
    assert "QF_" not in texts(at)  # no environment variables for a loan officer


def test_wrong_key_is_explained_not_traced(scoring_api):
    at = open_app(scoring_api.url, "qf_not-a-real-key")

    assert not at.exception
    assert any("Access denied" in e.value for e in at.main.error)
    assert any("Access denied" in e.value for e in at.sidebar.error)
    assert not [w for w in at.sidebar.warning if "model" in w.value]  # not "API up, no model"
    officer = " ".join(e.value for e in at.main.error)
    assert "key was refused" in officer and "QF_" not in officer
    assert not has_form(at)  # no contract without a valid key


def test_rate_limit_then_api_stopped(api_processes, german_portfolio):
    applicant, _ = chosen_applicant(german_portfolio)
    contract = german_portfolio.contract
    api = api_processes["limited"].wait()
    try:
        at = fill_and_submit(open_app(api.url, api.key), applicant, contract)
        assert "Decision:" in texts(at)
        fill_and_submit(at, applicant, contract)  # second request within the minute

        assert not at.exception
        warning = " ".join(w.value for w in at.main.warning)
        assert "Too many requests" in warning
        assert "Please wait" in warning and "seconds" in warning
    finally:
        api.process.stop()

    at.run()  # the officer clicks on: the API is gone
    assert not at.exception
    assert any("Scoring service unavailable" in e.value for e in at.sidebar.error)
    at.switch_page("views/model.py").run()
    assert not at.exception
    assert any("scoring service is unavailable" in e.value for e in at.main.error)
    assert "Traceback" not in texts(at)


def test_model_not_loaded_is_a_friendly_503(api_processes):
    api = api_processes["no_model"].wait(ready=False)
    at = open_app(api.url, api.key)

    assert not at.exception
    assert any("no model loaded yet" in w.value for w in at.sidebar.warning)
    assert any("model is not ready" in w.value for w in at.main.warning)
    assert not has_form(at)  # the form is the model's contract: none without a model
    at.switch_page("views/batch_scoring.py").run()
    assert not at.exception
    assert any("model is not ready" in w.value for w in at.main.warning)
    assert not at.get("download_button")
