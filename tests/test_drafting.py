"""`python -m quantumfinance.contract draft`: a contract and an env drafted from a table the
project has never seen pass ingest and data_engineering as drafted."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from quantumfinance.contract import load_contract
from quantumfinance.drafting import draft_contract, read_as_text, snake_name, sniff_csv
from tests.support.generated import (
    BAD,
    GOOD,
    ID,
    INCOME,
    REGION,
    TARGET,
    drafted_project,
    generated_loans,
    kedro_run,
)


@pytest.fixture(scope="module")
def drafted(tmp_path_factory):
    return drafted_project(tmp_path_factory.mktemp("drafted") / "project")


def test_sniffs_separator_decimal_mark_and_encoding(tmp_path):
    path = tmp_path / "loans.csv"
    generated_loans(50).to_csv(path, sep=";", decimal=",", index=False, encoding="cp1252")
    assert sniff_csv(path) == {"sep": ";", "encoding": "cp1252", "decimal": ","}


def test_codes_stay_text_with_their_leading_zeros_and_the_text_id_is_found(tmp_path):
    path = tmp_path / "loans.csv"
    generated_loans(200).to_csv(path, index=False)
    table, read = read_as_text(path)
    draft = draft_contract(table, read, target=TARGET, bad=[BAD], portfolio="loans")
    contract = draft.contract
    assert contract["id"] == {"name": "dossier_id", "source": ID}
    assert contract["target"]["bad"] == [BAD] and contract["target"]["good"] == [GOOD]
    by_source = {c["source"]: c for c in contract["characteristics"]}
    assert by_source[REGION]["type"] == "categorical"
    assert by_source[REGION]["categories"] == ["01", "02", "03", "04", "05"]
    assert by_source[INCOME]["type"] == "integer" and by_source[INCOME]["nullable"]
    assert {c["type"] for c in contract["characteristics"]} == {"categorical", "integer", "float"}


def test_names_are_snake_case_ascii_and_unique():
    taken: set[str] = set()
    assert snake_name("Région code", taken) == "region_code"
    assert snake_name("Région-code", taken) == "region_code_2"
    assert snake_name("2nd income", taken) == "c_2nd_income"


def test_an_unknown_bad_value_is_refused(tmp_path):
    table = generated_loans(20).astype("str")
    with pytest.raises(SystemExit, match="not a value of column"):
        draft_contract(table, {}, target=TARGET, bad=["Yes"])


def test_the_env_has_every_file_it_needs_and_says_what_to_review(drafted):
    folder = drafted.root / "conf" / drafted.env
    names = {p.name for p in folder.iterdir()}
    assert {
        "applicant_contract.yml",
        "catalog.yml",
        "globals.yml",
        "mlflow.yml",
        "parameters_ingest.yml",
        "parameters_reporting.yml",
    } <= names
    assert load_contract(drafted.contract_file).portfolio.name == drafted.env
    globals_ = yaml.safe_load((folder / "globals.yml").read_text())
    assert globals_ == {"data_root": f"data/{drafted.env}"}
    assert f"mlflow-{drafted.env}.db" in (folder / "mlflow.yml").read_text()
    assert "Review before" in drafted.draft_output
    assert "leading zeros kept" in drafted.draft_output


def test_the_drafted_env_passes_ingest_and_data_engineering(drafted):
    for pipeline in ("ingest", "de"):
        done = kedro_run(drafted.root, drafted.env, pipeline)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    data = drafted.root / "data" / drafted.env
    quality = yaml.safe_load((data / "08_reporting" / "data_quality.json").read_text())
    assert quality["rows_quarantined"] == 0 and quality["rows_valid"] == 600
    validated = pd.read_parquet(data / "02_intermediate" / "validated_applicants.parquet")
    contract = load_contract(drafted.contract_file)
    region = next(c.name for c in contract.characteristics if c.source == REGION)
    assert set(validated[region]) == {"01", "02", "03", "04", "05"}
    assert validated[contract.id.name].str.startswith("D-").all()
    assert set(validated[contract.target.name]) == {0, 1}


def test_a_constant_column_is_kept_out_of_the_model(tmp_path):
    table = generated_loans(50).astype("str").assign(Pays="FR")
    draft = draft_contract(table, {}, target=TARGET, bad=[BAD])
    country = next(c for c in draft.contract["characteristics"] if c["source"] == "Pays")
    assert country["use_in_model"] is False and country["categories"] == ["FR"]
