"""kedro-viz builds this project: the data pipelines, their nodes and their catalog layers are in
what it serves, and Chromium draws the layered view (docs/img/kedro_viz.png in the README).

The screenshot replaces docs/img/kedro_viz.png only when that file is missing or
QF_UPDATE_SCREENSHOTS=1, as tests/frontend/test_browser.py does for the app's picture.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, make_project_copy
from tests.support.services import unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
README_SCREENSHOT = REPO_ROOT / "docs" / "img" / "kedro_viz.png"
# The catalog's layers in data-flow order (metadata.kedro-viz.layer of each entry).
LAYERS = ["contract", "raw", "intermediate", "model_input", "models", "model_output", "reporting"]


@pytest.fixture(scope="module")
def viz_build(tmp_path_factory) -> Path:
    """`kedro viz build` of a copy of the project: the static site, api/ JSON included."""
    root = tmp_path_factory.mktemp("viz") / "project"
    make_project_copy(root)
    result = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "kedro"), "viz", "build"],
        cwd=root,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return root / "build"


def test_kedro_viz_build_contains_the_data_pipelines(viz_build):
    api = viz_build / "api"
    main = json.loads((api / "main").read_text())
    assert {"ingest", "data_engineering", "de"} <= {p["id"] for p in main["pipelines"]}

    def task_names(pipeline: str) -> set[str]:
        graph = json.loads((api / "pipelines" / pipeline).read_text())
        return {n["name"] for n in graph["nodes"] if n["type"] == "task"}

    assert task_names("ingest") == {"load_raw_applicants"}
    assert (
        task_names("data_engineering")
        == task_names("de")
        == {"validate_applicants", "enforce_quarantine_limit", "split_applicants"}
    )
    # The edge raw_applicants -> validation: the two pipelines are joined through the catalog.
    graph = json.loads((api / "pipelines" / "data_engineering").read_text())
    ids = {n["name"]: n["id"] for n in graph["nodes"]}
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    assert (ids["raw_applicants"], ids["validate_applicants"]) in edges


def test_every_catalog_dataset_has_a_layer_in_data_flow_order(viz_build):
    """A layer on each persisted dataset, and no edge from a later layer back to an earlier one
    (Kedro-Viz then drops every layer band)."""
    main = json.loads((viz_build / "api" / "main").read_text())
    assert main["layers"] == LAYERS
    datasets = {n["name"]: n.get("layer") for n in main["nodes"] if n["type"] == "data"}
    assert datasets["applicant_contract"] == "contract"
    assert datasets["raw_applicants"] == "raw"
    assert datasets["roc_plot"] == datasets["score_distribution_plot"] == "reporting"  # factory
    assert datasets["scoring_model"] == "models"


@pytest.fixture(scope="module")
def viz_url(viz_build) -> Iterator[str]:
    """The static build served on a free 127.0.0.1 port (kedro-viz build is a static site)."""
    handler = functools.partial(_QuietHandler, directory=str(viz_build))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's signature
        """No access log on the test's output."""


def _screenshot_path(tmp_path: Path) -> Path:
    update = os.environ.get("QF_UPDATE_SCREENSHOTS") == "1" or not README_SCREENSHOT.exists()
    return README_SCREENSHOT if update else tmp_path / "kedro_viz.png"


@pytest.mark.browser
def test_kedro_viz_shows_the_layered_pipelines_in_chromium(viz_url, tmp_path):
    if not CHROMIUM.exists():
        unavailable("Debian's chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright  # noqa: PLC0415

    screenshot = _screenshot_path(tmp_path)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1900})
            # Kedro-Viz keeps its settings in localStorage: no "new feature" pop-up on the picture.
            page.add_init_script(
                'localStorage.setItem("KedroViz", JSON.stringify({showFeatureHints: false}))'
            )
            page.goto(viz_url)
            for layer in LAYERS:
                expect(page.locator(".pipeline-layer-name", has_text=layer).first).to_be_attached(
                    timeout=60_000
                )
            for name in ("load_raw_applicants", "validate_applicants", "build_model_card"):
                expect(page.get_by_text(name, exact=True).first).to_be_attached()
            expect(page.locator(".feature-hints__header")).to_have_count(0)
            page.wait_for_timeout(2000)  # let the graph finish its layout for the picture
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    assert screenshot.stat().st_size > 20_000
