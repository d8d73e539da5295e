"""docs/data_dictionary*.md agree with the applicant contracts they document."""

from __future__ import annotations

import shutil

import pytest

from quantumfinance.contract import code_text, load_contract
from quantumfinance.data_dictionary import (
    PROJECT_ROOT,
    contract_path,
    doc_path,
    main,
    portfolio_envs,
    render,
)

ENVS = ("base", "cards")  # the shipped portfolios


def test_every_shipped_portfolio_has_a_dictionary():
    assert portfolio_envs() == list(ENVS)
    assert doc_path("base").name == "data_dictionary.md"
    assert doc_path("cards").name == "data_dictionary_cards.md"


@pytest.mark.parametrize("env", ENVS)
def test_committed_dictionary_is_the_rendered_contract(env):
    command = "python -m quantumfinance.data_dictionary" + (
        "" if env == "base" else f" --env {env}"
    )
    assert doc_path(env).read_text(encoding="utf-8") == render(env), (
        f"{doc_path(env).relative_to(PROJECT_ROOT)} is stale: run `{command}`"
    )


@pytest.mark.parametrize("env", ENVS)
def test_dictionary_names_every_column_value_source_and_the_portfolio(env):
    contract = load_contract(contract_path(env))
    doc = doc_path(env).read_text(encoding="utf-8")
    for column in contract.columns:
        assert f"| `{column}` |" in doc, column
    for c in contract.characteristics:
        assert f"`{c.source_column}`" in doc, c.source_column
        for category in c.categories or ():
            assert f"`{category}`" in doc, category
    for code in (*contract.target.bad, *contract.target.good):
        assert f"`{code_text(code)}`" in doc
    assert contract.portfolio.name in doc and contract.portfolio.source in doc
    assert "observed in the example data" in doc  # both shipped envs have example data


def test_cards_dictionary_shows_missing_shares_and_what_the_model_never_sees():
    doc = doc_path("cards").read_text(encoding="utf-8")
    contract = load_contract(contract_path("cards"))
    for c in contract.characteristics:
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{c.name}` |"))
        assert ("missing: " in row) == c.nullable, c.name  # the example file has gaps in both
        assert row.split(" | ")[7] == ("yes" if c.use_in_model else "no"), c.name


def test_env_without_a_contract_or_example_data_falls_back_and_still_renders(tmp_path):
    root = tmp_path / "project"
    shutil.copytree(PROJECT_ROOT / "conf" / "base", root / "conf" / "base")
    (root / "conf" / "other").mkdir()
    text = render("other", root)  # base's contract; base's example file is not in this copy
    assert "from conf/base/applicant_contract.yml" in text
    assert "No example data" in text and "observed in the example data" not in text


def test_cli_writes_one_env(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "quantumfinance.data_dictionary.doc_path", lambda env: tmp_path / f"{env}.md"
    )
    written = main(["--env", "cards"])
    assert written == [tmp_path / "cards.md"]
    assert written[0].read_text(encoding="utf-8") == render("cards")
