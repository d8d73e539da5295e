"""/docs and /redoc render in a real browser with no network beyond the API itself: the Swagger UI
and ReDoc assets are served by the app (from the fastapi-offline wheel), not from a CDN."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.serving.conftest import make_settings, stub_app, uvicorn_in_thread
from tests.serving.helpers import shipped_contract
from tests.support.services import unavailable

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def test_docs_and_redoc_render_with_external_requests_blocked(keys, tmp_path):
    if not CHROMIUM.exists():
        unavailable("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415

    settings = make_settings(
        keys, tmp_path / "audit.jsonl", model_uri=str(tmp_path / "no-model-here")
    )
    app = stub_app(settings, shipped_contract("base"))
    blocked: list[str] = []
    refused: list[str] = []

    def only_local(route) -> None:
        host = urlsplit(route.request.url).hostname
        if host == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with uvicorn_in_thread(settings, app, wait_ready=False) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.route("**/*", only_local)
            # the pages' Content-Security-Policy (http_policy.py) must not block their own parts
            page.on(
                "console",
                lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
            )
            page.goto(f"{url}/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text(
                "QuantumFinance credit scoring API", timeout=30_000
            )
            expect(
                page.locator(".opblock-summary-path", has_text="/v1/score/batch")
            ).to_be_visible()
            page.goto(f"{url}/redoc")
            expect(page.locator("h1", has_text="QuantumFinance credit scoring API")).to_be_visible(
                timeout=30_000
            )
        finally:
            browser.close()
    # ReDoc rendered from local assets; only its decorative "by Redocly" badge points outside
    # (refused by the policy, or by the route above)
    assert all(u.endswith("/logo-mini.svg") for u in blocked), blocked
    assert all("logo-mini.svg" in text for text in refused), refused
