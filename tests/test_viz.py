"""kedro-viz builds this project: the data pipelines and their nodes are in what it serves."""

from __future__ import annotations

import json
import os
import subprocess

from tests.conftest import REPO_ROOT, make_project_copy


def test_kedro_viz_build_contains_the_data_pipelines(tmp_path):
    root = tmp_path / "project"
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
    api = root / "build" / "api"
    main = json.loads((api / "main").read_text())
    assert {"ingest", "data_engineering", "de"} <= {p["id"] for p in main["pipelines"]}

    def task_names(pipeline: str) -> set[str]:
        graph = json.loads((api / "pipelines" / pipeline).read_text())
        return {n["name"] for n in graph["nodes"] if n["type"] == "task"}

    assert task_names("ingest") == {"load_raw_applicants"}
    assert (
        task_names("data_engineering")
        == task_names("de")
        == {
            "validate_applicants",
            "enforce_quarantine_limit",
            "split_applicants",
        }
    )
    # The edge raw_applicants -> validation: the two pipelines are joined through the catalog.
    graph = json.loads((api / "pipelines" / "data_engineering").read_text())
    ids = {n["name"]: n["id"] for n in graph["nodes"]}
    edges = {(e["source"], e["target"]) for e in graph["edges"]}
    assert (ids["raw_applicants"], ids["validate_applicants"]) in edges
