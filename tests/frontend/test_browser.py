"""End to end in a real browser: Debian's Chromium, driven by Playwright, on `streamlit run`.

Every run takes a screenshot of the scored applicant. It replaces docs/img/score_applicant.png
(shown in the README) when that file is missing or QF_UPDATE_SCREENSHOTS=1, so the README's
picture comes from the app as tested without every `make test` rewriting a tracked file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from quantumfinance_frontend.applicant_fields import label, typical_applicant
from tests.frontend.conftest import APP, ScoringApi
from tests.support.services import REPO_ROOT, BackgroundProcess, free_port, unavailable

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
README_SCREENSHOT = REPO_ROOT / "docs" / "img" / "score_applicant.png"


def _screenshot_path(tmp_path: Path) -> Path:
    """Where this run's screenshot goes: the README's copy only when asked for (or missing)."""
    if os.environ.get("QF_UPDATE_SCREENSHOTS") == "1" or not README_SCREENSHOT.exists():
        return README_SCREENSHOT
    return tmp_path / "score_applicant.png"


@pytest.fixture(scope="module")
def streamlit_url(scoring_api: ScoringApi, tmp_path_factory) -> Iterator[str]:
    """`streamlit run` of the app, configured through QF_API_URL / QF_API_KEY."""
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
        env={"QF_API_URL": scoring_api.url, "QF_API_KEY": scoring_api.key},
    )
    process.wait_ready(
        lambda: requests.get(f"{url}/_stcore/health", timeout=2).status_code == 200,
        60,
        "Streamlit",
    )
    yield url
    process.stop()


def test_loan_officer_scores_an_applicant_in_chromium(streamlit_url, scoring_api, tmp_path):
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415

    screenshot = _screenshot_path(tmp_path)

    changes = {"credit_amount": 7500, "duration_months": 36, "purpose": "car (used)"}
    expected = scoring_api.score(typical_applicant() | changes)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1900})
            page.goto(streamlit_url)
            page.get_by_role("spinbutton", name=label("credit_amount")).fill("7500")
            page.get_by_role("spinbutton", name=label("duration_months")).fill("36")
            page.get_by_role("combobox", name=label("purpose")).click()
            page.get_by_role("option", name="car (used)", exact=True).click()
            page.get_by_role("button", name="Score applicant").click()

            decision = page.get_by_text(f"Decision: {expected['decision'].upper()}")
            expect(decision).to_be_visible(timeout=30_000)
            for reason in expected["reason_codes"]:
                expect(page.get_by_text(reason["text"]).first).to_be_visible()
            expect(page.get_by_text("API healthy")).to_be_visible()
            page.wait_for_timeout(1500)  # let the Vega charts finish drawing for the picture
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    assert screenshot.stat().st_size > 20_000
