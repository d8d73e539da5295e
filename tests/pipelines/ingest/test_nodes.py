"""Ingest nodes: both shipped portfolios, reader options, and a clear error for each unusable input.

Contract errors name the contract file, the field and the problem, and are raised by the node
before Kedro saves anything (tests/pipelines/ingest/test_pipeline.py checks nothing was written).
"""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from pandas.testing import assert_frame_equal

from quantumfinance.contract import ContractError, load_contract
from quantumfinance.pipelines.ingest.nodes import load_raw_applicants, read_applicant_file
from quantumfinance.synthetic import generate_applicants
from tests.support.portfolios import contract, contract_path, ingest_params, raw_applicants


@pytest.mark.parametrize("env", ["base", "cards"])
def test_shipped_file_is_mapped_to_the_contract(env):
    c = contract(env)
    raw = load_raw_applicants(ingest_params(env), c)
    assert list(raw.columns[: len(c.columns)]) == list(c.columns)
    assert raw[c.id.name].tolist() == list(range(1, len(raw) + 1))  # both generate their ids
    # The target keeps the source's coding: data_engineering reads it with the contract.
    codes = {str(v) for v in (*c.target.bad, *c.target.good)}
    assert set(raw[c.target.name].astype(str)) == codes


def test_german_credit_reads_as_before():
    raw = raw_applicants("base")
    assert len(raw) == 1000 and (raw["default"] == "bad").sum() == 300
    assert raw.columns.tolist()[-1] == "default"


def test_cards_reader_options_give_floats_missing_values_and_extra_columns():
    c, raw = contract("cards"), raw_applicants("cards")
    floats = [f.name for f in c.characteristics if f.type == "float"]
    assert all(raw[name].dtype == "float64" for name in floats)
    nullable = [f.name for f in c.characteristics if f.nullable]
    assert nullable and all(raw[name].isna().any() for name in nullable)
    categories = {v for f in c.characteristics if f.is_categorical for v in f.categories}
    assert any(not v.isascii() for v in categories)  # decoded from Latin-1
    assert "Branch code" in raw.columns  # outside the contract: kept, reported by validation


def test_synthetic_source_honours_n_rows_and_seed():
    c = contract("base")
    params = {**ingest_params("base"), "source": "synthetic", "n_rows": 250, "seed": 3}
    raw = load_raw_applicants(params, c)
    assert list(raw.columns) == list(c.columns)
    assert len(raw) == 250
    reference = load_raw_applicants(ingest_params("base"), c)
    assert_frame_equal(raw, generate_applicants(c, 250, seed=3, reference=reference))


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_file_source_reads_csv_and_parquet(tmp_path, suffix):
    source = pd.read_csv(ingest_params("base")["path"]).head(40)
    path = tmp_path / f"applicants{suffix}"
    if suffix == ".parquet":
        source.to_parquet(path)
    else:
        source.to_csv(path, index=False)
    raw = load_raw_applicants({"source": "file", "path": str(path)}, contract("base"))
    assert_frame_equal(raw, raw_applicants("base").head(40), check_dtype=False)


def test_unknown_source_is_a_clear_error():
    with pytest.raises(ValueError, match=r"ingest.source must be one of .*got 'kaggle'"):
        load_raw_applicants({"source": "kaggle", "n_rows": 10, "seed": 1}, contract())


def test_file_source_without_path_is_a_clear_error():
    with pytest.raises(ValueError, match="ingest.path is required"):
        load_raw_applicants({"source": "file", "path": None}, contract())


def test_unknown_reader_option_is_a_clear_error(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("x\n1\n")
    with pytest.raises(ValueError, match=r"ingest.read: unknown option\(s\) \['delimeter'\]"):
        read_applicant_file(path, {"delimeter": ";"})


def test_decode_error_names_the_line(tmp_path):
    path = tmp_path / "applicants.csv"
    path.write_bytes("a,b\n1,x\n2,y\n3,Z\xfcrich\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"applicants.csv: line 4 is not valid utf-8"):
        read_applicant_file(path)
    assert read_applicant_file(path, {"encoding": "latin-1"})["b"].iloc[2] == "Zürich"


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.csv does not exist"):
        read_applicant_file(tmp_path / "nowhere.csv")


def test_empty_file_is_a_clear_error(tmp_path):
    path = tmp_path / "applicants.csv"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"applicants.csv is empty \(0 bytes\)"):
        read_applicant_file(path)


def test_file_that_is_neither_csv_nor_parquet_is_rejected(tmp_path):
    path = tmp_path / "applicants.xlsx"
    path.write_bytes(b"PK\x03\x04 a spreadsheet")
    with pytest.raises(ValueError, match="is neither CSV .* nor parquet"):
        read_applicant_file(path)


def test_parquet_suffix_on_a_csv_is_rejected(tmp_path):
    path = tmp_path / "applicants.parquet"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"is not a parquet file \(no PAR1 header\)"):
        read_applicant_file(path)


def test_binary_content_with_csv_suffix_is_rejected(tmp_path):
    path = tmp_path / "applicants.csv"
    path.write_bytes(b"a,b\n" + bytes(range(128, 256)) * 4)
    with pytest.raises(ValueError, match="line 2 is not valid utf-8"):
        read_applicant_file(path)


def test_header_only_csv_reads_as_zero_rows(tmp_path):
    # Ingest keeps it; data_engineering then refuses the empty table (tested there).
    path = tmp_path / "applicants.csv"
    path.write_text("a,b,c\n")
    raw = read_applicant_file(path)
    assert list(raw.columns) == ["a", "b", "c"]
    assert raw.empty


# ----------------------------------------------------------------------------- contract errors


def _edited_contract(tmp_path, env: str, edit) -> tuple:
    """A copy of the env's contract file changed by ``edit(dict)``, and its path."""
    data = yaml.safe_load(contract_path(env).read_text())
    edit(data)
    path = tmp_path / "applicant_contract.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _source_file(tmp_path, env: str, change) -> dict:
    """The env's example file with ``change(frame)`` applied, and ingest params reading it."""
    params = ingest_params(env)
    read = params.get("read") or {}
    frame = change(pd.read_csv(params["path"], **read))
    path = tmp_path / "source.csv"
    frame.to_csv(path, index=False, sep=read.get("sep", ","), decimal=read.get("decimal", "."))
    return {**params, "path": str(path), "read": {**read, "encoding": "utf-8"}}


def test_contract_naming_a_missing_column_names_file_field_and_column(tmp_path):
    params = _source_file(tmp_path, "cards", lambda f: f.drop(columns="Annual income"))
    with pytest.raises(ContractError) as failure:
        load_raw_applicants(params, contract("cards"))
    message = str(failure.value)
    assert str(contract_path("cards")) in message
    assert "characteristics[income].source" in message
    assert "['Annual income'] not found in" in message and "source.csv" in message


def test_unknown_type_names_file_field_and_problem(tmp_path):
    def edit(data):
        data["characteristics"][0]["type"] = "decimal"

    path = _edited_contract(tmp_path, "cards", edit)
    with pytest.raises(ContractError) as failure:
        load_contract(path)
    message = str(failure.value)
    assert message.startswith(f"{path}: characteristics[balance].type:")
    assert "'categorical', 'integer' or 'float'" in message


@pytest.mark.parametrize(
    ("edit", "field", "problem"),
    [
        (
            lambda d: d["characteristics"][5].pop("categories"),
            "characteristics[student]",
            "needs a non-empty `categories`",
        ),
        (
            lambda d: d["characteristics"][0].update(minimum=10, maximum=1),
            "characteristics[balance]",
            "`minimum` 10.0 is above `maximum` 1.0",
        ),
        (lambda d: d["target"].update(good=["Yes"]), "target", "listed as both bad and good"),
        (
            lambda d: d["characteristics"][1].update(name="balance"),
            "(top level)",
            "column name(s) ['balance'] used more than once",
        ),
        (
            lambda d: d["characteristics"][2].update(monotonic_trend="upwards"),
            "characteristics[months_on_book].monotonic_trend",
            "Input should be",
        ),
        (
            lambda d: d["characteristics"][0].update(colour="red"),
            "characteristics[balance].colour",
            "Extra inputs are not permitted",
        ),
    ],
)
def test_contract_mistakes_are_named(tmp_path, edit, field, problem):
    path = _edited_contract(tmp_path, "cards", edit)
    with pytest.raises(ContractError) as failure:
        load_contract(path)
    assert f"{path}: {field}" in str(failure.value)
    assert problem in str(failure.value)


def test_category_set_that_does_not_match_the_data_is_an_error(tmp_path):
    def edit(data):
        region = next(c for c in data["characteristics"] if c["name"] == "region")
        region["categories"] = ["North", "South", "East", "West"]  # the file says Nord, Süd, ...

    c = load_contract(_edited_contract(tmp_path, "cards", edit))
    with pytest.raises(ContractError) as failure:
        load_raw_applicants(ingest_params("cards"), c)
    message = str(failure.value)
    assert "characteristics[region].categories" in message
    assert "'Region'" in message and "not among the declared categories" in message
    assert "'Nord'" in message


def test_target_that_cannot_be_read_is_an_error(tmp_path):
    def edit(data):
        data["target"].update(bad=["Y"], good=["N"])

    c = load_contract(_edited_contract(tmp_path, "cards", edit))
    with pytest.raises(ContractError) as failure:
        load_raw_applicants(ingest_params("cards"), c)
    message = str(failure.value)
    assert "target.bad/target.good" in message
    assert "neither bad ['Y'] nor good ['N']" in message and "'No'" in message


def test_numbers_read_with_the_wrong_decimal_mark_are_an_error():
    params = {**ingest_params("cards"), "read": {"sep": ";", "encoding": "latin-1"}}
    with pytest.raises(ContractError, match=r"characteristics\[balance\].type: .* not numbers"):
        load_raw_applicants(params, contract("cards"))


def test_a_few_bad_rows_pass_ingest_for_the_quarantine(tmp_path):
    def change(frame):
        frame.loc[:9, "Region"] = "Atlantis"
        return frame

    raw = load_raw_applicants(_source_file(tmp_path, "cards", change), contract("cards"))
    assert (raw["region"] == "Atlantis").sum() == 10
