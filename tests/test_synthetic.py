"""The synthetic applicant generator: deterministic, same schema as the real table, a real signal."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal, assert_series_equal
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from quantumfinance.applicant_schema import (
    BY_NAME,
    CATEGORICAL_COLUMNS,
    FEATURE_COLUMNS,
    NUMERIC_COLUMNS,
    load_german_credit,
)
from quantumfinance.synthetic import generate_applicants, write_applicants_parquet


@pytest.fixture(scope="module")
def applicants() -> pd.DataFrame:
    return generate_applicants(20_000, seed=7, chunk_rows=6_000)


def test_same_seed_gives_identical_frame(applicants):
    assert_frame_equal(generate_applicants(20_000, seed=7, chunk_rows=6_000), applicants)


def test_other_seed_gives_other_applicants(applicants):
    other = generate_applicants(20_000, seed=8, chunk_rows=6_000)
    assert not other.drop(columns="applicant_id").equals(applicants.drop(columns="applicant_id"))


def test_schema_equals_the_real_table(applicants):
    real = load_german_credit()
    assert list(applicants.columns) == list(real.columns)
    assert_series_equal(applicants.dtypes, real.dtypes)
    assert applicants["applicant_id"].is_unique
    assert applicants["applicant_id"].tolist() == list(range(1, 20_001))


def test_values_stay_in_the_real_categories_and_ranges(applicants):
    real = load_german_credit()
    for column in CATEGORICAL_COLUMNS:
        assert set(applicants[column]) <= set(BY_NAME[column].categories), column
    for column in NUMERIC_COLUMNS:
        assert applicants[column].between(real[column].min(), real[column].max()).all(), column


def test_frequencies_follow_the_real_table(applicants):
    real = load_german_credit()
    assert abs(applicants["default"].mean() - real["default"].mean()) < 0.02
    for column in ("checking_status", "purpose", "housing"):
        synthetic = applicants[column].value_counts(normalize=True)
        expected = real[column].value_counts(normalize=True)
        assert (synthetic.reindex(expected.index) - expected).abs().max() < 0.03, column


def test_planted_risk_signal_is_learnable(applicants):
    features = pd.get_dummies(applicants[list(FEATURE_COLUMNS)], dtype=float)
    features[list(NUMERIC_COLUMNS)] = features[list(NUMERIC_COLUMNS)].apply(
        lambda s: (s - s.mean()) / s.std()
    )
    x_train, x_test, y_train, y_test = train_test_split(
        features, applicants["default"], test_size=0.3, random_state=0
    )
    model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    auc = roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
    assert auc > 0.65


def test_parquet_writer_streams_the_same_rows(tmp_path, applicants):
    path = write_applicants_parquet(tmp_path / "applicants.parquet", 20_000, 7, chunk_rows=6_000)
    assert pq.ParquetFile(path).metadata.num_row_groups == 4  # one row group per chunk
    assert_frame_equal(pd.read_parquet(path), applicants)


def test_zero_rows_gives_an_empty_frame_with_the_schema(tmp_path):
    empty = generate_applicants(0)
    assert len(empty) == 0
    assert list(empty.columns) == list(load_german_credit().columns)
    assert len(pd.read_parquet(write_applicants_parquet(tmp_path / "e.parquet", 0))) == 0


def test_negative_row_count_is_a_clear_error():
    with pytest.raises(ValueError, match="n_rows must be >= 0"):
        generate_applicants(-1)
