"""The decision records exist, one per architectural decision, each with its four parts."""

from __future__ import annotations

import re

import pytest

from tests.support.services import REPO_ROOT

DECISIONS = REPO_ROOT / "docs" / "decisions"
TOPICS = ["kedro", "dvc", "mlflow", "fastapi", "streamlit", "devcontainer", "german-credit"]


def _records() -> list:
    return sorted(DECISIONS.glob("[0-9][0-9][0-9][0-9]-*.md"))


def test_one_numbered_record_per_decision():
    names = [p.name for p in _records()]
    numbers = [int(n[:4]) for n in names]
    assert numbers == list(range(1, len(names) + 1)), (
        f"records must be numbered 0001.. without gaps: {names}"
    )
    for topic in TOPICS:
        assert any(topic in n for n in names), f"no decision record about {topic}"


@pytest.mark.parametrize("record", _records(), ids=lambda p: p.name)
def test_record_has_context_decision_alternatives_and_revisit(record):
    text = record.read_text()
    for part in ("**Context.**", "**Decision.**", "**Alternatives.**", "**Revisit when**"):
        assert part in text, f"{record.name} lacks {part}"
    assert re.search(r"^- \*", text, re.M), f"{record.name} lists no alternatives"


def test_index_links_every_record():
    index = (DECISIONS / "README.md").read_text()
    for record in _records():
        assert f"({record.name})" in index, f"docs/decisions/README.md does not link {record.name}"
