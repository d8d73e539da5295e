"""End to end in a real browser: Debian's Chromium, driven by Playwright, on `streamlit run`.

A loan officer scores one applicant of each shipped portfolio (German credit, cards) with the
same test: the fields it changes are picked from the API's contract by type, never by name.

Every run takes a screenshot of the scored applicant. The German one replaces
docs/img/score_applicant.png (shown in the README) when that file is missing or
QF_UPDATE_SCREENSHOTS=1, so the README's picture comes from the app as tested without every
`make test` rewriting a tracked file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from quantumfinance.contract import ApplicantContract
from quantumfinance_frontend.applicant_fields import MISSING_LABEL, category_label
from tests.frontend.conftest import APP, Portfolio
from tests.support.services import REPO_ROOT, BackgroundProcess, free_port, unavailable

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
README_SCREENSHOT = REPO_ROOT / "docs" / "img" / "score_applicant.png"


def _screenshot_path(portfolio: str, tmp_path: Path) -> Path:
    """Where this run's screenshot goes: the README's copy (German credit) only when asked for
    (or missing)."""
    update = os.environ.get("QF_UPDATE_SCREENSHOTS") == "1" or not README_SCREENSHOT.exists()
    if portfolio == "german" and update:
        return README_SCREENSHOT
    return tmp_path / f"score_applicant_{portfolio}.png"


@pytest.fixture(scope="module")
def streamlit_url(portfolio: Portfolio, tmp_path_factory) -> Iterator[str]:
    """`streamlit run` of the app on the portfolio's API, configured through QF_API_URL / QF_API_KEY."""
    if not CHROMIUM.exists():
        unavailable("Debian's chromium is not installed (apt-get install -y chromium)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = BackgroundProcess(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--server.fileWatcherType",
            "none",
            "--browser.gatherUsageStats",
            "false",
        ],  # fmt: skip
        tmp_path_factory.mktemp("streamlit") / "streamlit.log",
        env={"QF_API_URL": portfolio.api.url, "QF_API_KEY": portfolio.api.key},
    )
    try:
        process.wait_ready(
            lambda: requests.get(f"{url}/_stcore/health", timeout=2).status_code == 200,
            60,
            "Streamlit",
        )
        yield url
    finally:
        process.stop()


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
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415

    contract = portfolio.contract
    screenshot = _screenshot_path(portfolio.name, tmp_path)
    changes = officer_changes(contract)
    expected = portfolio.api.score(contract.example_applicant() | changes)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1900})
            page.goto(streamlit_url)
            expect(page.get_by_text(contract.portfolio.name).first).to_be_visible(timeout=30_000)
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
            for reason in expected["reason_codes"]:
                expect(page.get_by_text(reason["text"]).first).to_be_visible()
            expect(page.get_by_text("API healthy")).to_be_visible()
            score = page.get_by_test_id("stMetricValue").first
            expect(score).to_have_text(str(expected["score"]))
            charts = page.get_by_test_id("stVegaLiteChart")  # score gauge + ranked reasons
            expect(charts).to_have_count(2, timeout=30_000)
            expect(charts.locator("svg, canvas").first).to_be_visible()
            page.wait_for_timeout(1500)  # let the Vega charts finish drawing for the picture
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    assert screenshot.stat().st_size > 20_000
