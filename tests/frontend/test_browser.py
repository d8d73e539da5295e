"""End to end in a real browser: Debian's Chromium, driven by Playwright, on `streamlit run`.

A loan officer scores one applicant of each shipped portfolio (German credit, cards) with the
same test: the fields it changes are picked from the API's contract by type, never by name.

Every run takes screenshots of the scored applicant, the batch page and the Model page. The
German ones replace docs/img/{score_applicant,batch_scoring,model}.png (in the README) when missing or
QF_UPDATE_SCREENSHOTS=1, so the README's picture comes from the app as tested without every
`make test` rewriting a tracked file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from quantumfinance.contract import ApplicantContract
from quantumfinance_frontend.applicant_fields import MISSING_LABEL, category_label
from tests.frontend.conftest import Portfolio, chromium_page
from tests.support.services import REPO_ROOT

pytestmark = pytest.mark.browser

README_SCREENSHOT = REPO_ROOT / "docs" / "img" / "score_applicant.png"


def _screenshot_path(portfolio: str, tmp_path: Path, page: str = "score_applicant") -> Path:
    """Where this run's screenshot of a page goes: the README's copy in docs/img (German credit)
    only when asked for (or missing)."""
    readme_copy = README_SCREENSHOT.with_name(f"{page}.png")
    update = os.environ.get("QF_UPDATE_SCREENSHOTS") == "1" or not readme_copy.exists()
    if portfolio == "german" and update:
        return readme_copy
    return tmp_path / f"{page}_{portfolio}.png"


@pytest.fixture(scope="module")
def streamlit_url(portfolio: Portfolio, streamlit_on) -> str:
    """`streamlit run` of the app on the portfolio's API."""
    return streamlit_on(portfolio.api)


def officer_changes(contract: ApplicantContract) -> dict[str, Any]:
    """What the officer changes from the form's defaults: the first two required numbers (a
    tenth of the way to their maximum; decimals where the contract allows them), the first
    category with a choice, and every nullable field set to unknown."""
    changes: dict[str, Any] = {}
    numbers = [c for c in contract.features if not c.is_categorical and not c.nullable]
    for spec in numbers[:2]:
        default = float(spec.default_example)
        target = default + (spec.maximum - default) / 10
        changes[spec.name] = int(target) if spec.type == "integer" else round(target + 0.25, 2)
    choice = next(c for c in contract.features if c.is_categorical and len(c.categories) > 1)
    changes[choice.name] = next(v for v in choice.categories if v != choice.default_example)
    for spec in contract.features:
        if spec.nullable:
            changes[spec.name] = None
    return changes


def test_loan_officer_scores_an_applicant_in_chromium(streamlit_url, portfolio, tmp_path):
    from playwright.sync_api import expect  # noqa: PLC0415

    contract = portfolio.contract
    screenshot = _screenshot_path(portfolio.name, tmp_path)
    changes = officer_changes(contract)
    expected = portfolio.api.score(contract.example_applicant() | changes)

    with chromium_page(1400, 1900) as page:
        page.goto(streamlit_url)
        # the first run of the app imports it all: slow on a loaded machine
        expect(page.get_by_text(contract.portfolio.name).first).to_be_visible(timeout=90_000)
        for name, value in changes.items():
            spec = contract.by_name[name]
            if spec.is_categorical:
                page.get_by_role("combobox", name=spec.title).click()
                option = MISSING_LABEL if value is None else category_label(spec, value)
                page.get_by_role("option", name=option, exact=True).click()
            elif value is None:
                unknown = f"{spec.title}: {MISSING_LABEL.lower()}"
                page.get_by_text(unknown, exact=True).click()  # the box's own label
                expect(page.get_by_role("checkbox", name=unknown)).to_be_checked()
            else:
                page.get_by_role("spinbutton", name=spec.title).fill(str(value))
        page.get_by_role("button", name="Score applicant").click()

        decision = page.get_by_text(f"Decision: {expected['decision'].upper()}")
        expect(decision).to_be_visible(timeout=30_000)
        # adverse-action reasons for review / decline; the positive factors for an approval
        approved = expected["decision"] == "approve"
        shown = (expected.get("positive_factors") or []) if approved else expected["reason_codes"]
        hidden = expected["reason_codes"] if approved else []
        for reason in shown:
            expect(page.get_by_text(reason["text"]).first).to_be_visible()
        for reason in hidden:
            expect(page.get_by_text(reason["text"])).to_have_count(0)
        expect(page.get_by_text("Ready to score")).to_be_visible()
        score = page.get_by_test_id("stMetricValue").first
        expect(score).to_have_text(str(expected["score"]))
        charts = page.get_by_test_id("stVegaLiteChart")  # score gauge (+ ranked reasons)
        expect(charts).to_have_count(2 if shown else 1, timeout=30_000)
        expect(charts.locator("svg, canvas").first).to_be_visible()
        page.wait_for_timeout(1500)  # let the Vega charts finish drawing for the picture
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    assert screenshot.stat().st_size > 20_000


def test_batch_and_model_pages_in_chromium(streamlit_url, portfolio, tmp_path):
    """The batch page scores an uploaded file (results led by id, decision, score) and the
    Model page shows its summary; both are screenshot for the README like the score page."""
    from playwright.sync_api import expect  # noqa: PLC0415

    contract = portfolio.contract
    upload = pd.DataFrame(portfolio.applicants[:20])
    upload.insert(0, contract.id.name, [f"A-{i:03d}" for i in range(len(upload))])
    csv = tmp_path / "applicants.csv"
    upload.to_csv(csv, index=False)
    info = portfolio.api.model_info()

    with chromium_page(1400, 1300) as page:
        page.goto(f"{streamlit_url}/batch_scoring")
        page.locator("input[type=file]").set_input_files(str(csv))
        expect(page.get_by_text("20 applicant(s) scored")).to_be_visible(timeout=60_000)
        grid = page.get_by_test_id("stDataFrame").last
        expect(grid).to_be_visible()
        page.wait_for_timeout(1500)  # let the chart and the grid finish drawing
        page.screenshot(
            path=str(_screenshot_path(portfolio.name, tmp_path, "batch_scoring")),
            full_page=True,
        )

        page.goto(f"{streamlit_url}/model")
        expect(page.get_by_text(f"credit-score v{info['version']}").first).to_be_visible(
            timeout=30_000
        )
        expect(page.get_by_text("AUC (test)")).to_be_visible()
        expect(page.get_by_text(f"{info['metrics']['test_auc']:.3f}").first).to_be_visible()
        expect(page.get_by_text(f"All {len(info['metrics'])} training figures")).to_be_visible()
        expect(page.get_by_test_id("stImage")).to_have_count(len(info["plots"]), timeout=30_000)
        page.wait_for_timeout(1500)
        page.screenshot(
            path=str(_screenshot_path(portfolio.name, tmp_path, "model")), full_page=True
        )
    for name in ("batch_scoring", "model"):
        picture = _screenshot_path(portfolio.name, tmp_path, name)
        assert picture.read_bytes().startswith(b"\x89PNG") and picture.stat().st_size > 20_000
