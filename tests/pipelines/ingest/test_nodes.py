"""Ingest nodes: every source, and a clear error for each unreadable input."""

from __future__ import annotations

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from quantumfinance.applicant_schema import ALL_COLUMNS, load_german_credit
from quantumfinance.pipelines.ingest.nodes import load_raw_applicants, read_applicant_file
from quantumfinance.synthetic import generate_applicants


def test_german_credit_source_gives_the_real_applicants():
    raw = load_raw_applicants({"source": "german_credit", "n_rows": 5, "seed": 1})
    assert_frame_equal(raw, load_german_credit())  # n_rows only applies to synthetic
    assert raw["default"].sum() == 300


def test_synthetic_source_honours_n_rows_and_seed():
    raw = load_raw_applicants({"source": "synthetic", "n_rows": 250, "seed": 3})
    assert list(raw.columns) == list(ALL_COLUMNS)
    assert_frame_equal(raw, generate_applicants(250, seed=3))


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
def test_file_source_reads_csv_and_parquet(tmp_path, suffix):
    applicants = load_german_credit().head(40)
    path = tmp_path / f"applicants{suffix}"
    if suffix == ".parquet":
        applicants.to_parquet(path)
    else:
        applicants.to_csv(path, index=False)
    raw = load_raw_applicants({"source": "file", "path": str(path)})
    assert_frame_equal(raw, applicants, check_dtype=False)


def test_unknown_source_is_a_clear_error():
    with pytest.raises(ValueError, match=r"ingest.source must be one of .*got 'kaggle'"):
        load_raw_applicants({"source": "kaggle", "n_rows": 10, "seed": 1})


def test_file_source_without_path_is_a_clear_error():
    with pytest.raises(ValueError, match="ingest.path is required"):
        load_raw_applicants({"source": "file", "path": None})


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
    load_german_credit().head(3).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"is not a parquet file \(no PAR1 header\)"):
        read_applicant_file(path)


def test_binary_content_with_csv_suffix_is_rejected(tmp_path):
    path = tmp_path / "applicants.csv"
    path.write_bytes(bytes(range(128, 256)) * 4)
    with pytest.raises(ValueError, match="is not a readable CSV file"):
        read_applicant_file(path)


def test_header_only_csv_reads_as_zero_rows(tmp_path):
    # Ingest keeps it; data_engineering then refuses the empty table (tested there).
    path = tmp_path / "applicants.csv"
    path.write_text(",".join(ALL_COLUMNS) + "\n")
    raw = read_applicant_file(path)
    assert list(raw.columns) == list(ALL_COLUMNS)
    assert raw.empty
    assert isinstance(raw, pd.DataFrame)
