"""Synthetic applicants for scale tests: the real table's schema, frequencies and ranges.

How a synthetic applicant is made (all vectorised numpy, one chunk of rows at a time):

* **Categorical attributes** are drawn independently from the category frequencies of the real
  German credit table (``fit_profile``).
* **duration_months and credit_amount** are drawn as *pairs* from the real rows (they are
  correlated: long loans are big loans); the amount is then jittered by a log-normal factor
  (sigma 0.15) so it is not limited to the 1,000 real values, and clipped to the real range.
* **age** is a real age plus a uniform jitter of -2..+2 years, clipped to the real range; the
  small class-coded numerics (installment_rate, residence_since, existing_credits,
  num_dependents) follow their real frequencies.
* **The planted risk signal.** ``default`` (1 = bad) is Bernoulli(sigmoid(logit)) with
  ``logit = intercept + sum of the effects in PLANTED_EFFECTS`` (log-odds per category, per
  month of duration above 20, per unit of ln(amount / 2500), per year of age above 35, per
  instalment class above 2). The signs follow the direction of the real data (an overdrawn
  checking account, long loans and little savings raise the risk). The intercept is calibrated
  once on a fixed sample so the default rate matches the real table (30 %). A logistic model on
  one-hot features reaches a cross-validated ROC AUC of about 0.78 (the real table: also 0.78). ``personal_status_sex`` carries no planted
  effect, so any gap a fairness report finds on it comes from correlation, not from the target.

Determinism: chunk ``i`` is drawn from ``numpy.random.default_rng([seed, i])``, so the same
``(n_rows, seed, chunk_rows)`` always gives the same rows, whether they are returned as one
DataFrame (``generate_applicants``) or streamed to parquet (``write_applicants_parquet``, which
holds one chunk in memory at a time — 10,000,000 rows stay well under 2 GB).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quantumfinance.applicant_schema import (
    BY_NAME,
    CATEGORICAL_COLUMNS,
    ID_COLUMN,
    TARGET_COLUMN,
    load_german_credit,
)

CHUNK_ROWS = 100_000
TARGET_DEFAULT_RATE = 0.30  # the real table: 300 bad out of 1,000
CLASS_COLUMNS = ("installment_rate", "residence_since", "existing_credits", "num_dependents")

# Planted log-odds effects on default. Categories not listed have effect 0.
PLANTED_EFFECTS: dict[str, dict[str, float]] = {
    "checking_status": {
        "... < 0 DM": 0.9,
        "0 <= ... < 200 DM": 0.5,
        "... >= 200 DM / salary assignments for at least 1 year": -0.2,
        "no checking account": -1.0,
    },
    "credit_history": {
        "no credits taken/ all credits paid back duly": 0.9,
        "all credits at this bank paid back duly": 0.8,
        "delay in paying off in the past": 0.2,
        "critical account/ other credits existing (not at this bank)": -0.6,
    },
    "savings_status": {
        "... < 100 DM": 0.35,
        "100 <= ... < 500 DM": 0.15,
        "500 <= ... < 1000 DM": -0.4,
        "... >= 1000 DM": -0.7,
        "unknown/ no savings account": -0.5,
    },
    "purpose": {
        "car (new)": 0.3,
        "car (used)": -0.7,
        "radio/television": -0.3,
        "education": 0.5,
        "business": 0.1,
    },
    "employment_since": {
        "unemployed": 0.3,
        "... < 1 year": 0.4,
        "4 <= ... < 7 years": -0.3,
        "... >= 7 years": -0.1,
    },
    "other_installment_plans": {"bank": 0.4, "stores": 0.35},
    "housing": {"own": -0.25, "rent": 0.2, "for free": 0.2},
}
PER_MONTH_ABOVE_20 = 0.03  # duration_months
PER_LOG_AMOUNT = 0.25  # ln(credit_amount / 2500)
PER_YEAR_ABOVE_35 = -0.015  # age
PER_INSTALLMENT_CLASS = 0.15  # installment_rate above 2


@dataclass(frozen=True)
class ApplicantProfile:
    """Frequencies and ranges fitted from the real applicants; drives the generator."""

    category_probs: dict[str, tuple[tuple[str, ...], np.ndarray]]
    class_probs: dict[str, tuple[np.ndarray, np.ndarray]]
    duration_amount_pairs: np.ndarray  # shape (n, 2), int64
    ages: np.ndarray
    ranges: dict[str, tuple[int, int]]
    intercept: float


def fit_profile(real: pd.DataFrame | None = None) -> ApplicantProfile:
    """Fit category frequencies, numeric ranges and the default-rate intercept from real rows."""
    real = load_german_credit() if real is None else real
    category_probs = {}
    for column in CATEGORICAL_COLUMNS:
        # Keep the contract's category order so codes mean the same thing for every table.
        counts = real[column].value_counts().reindex(BY_NAME[column].categories, fill_value=0)
        category_probs[column] = (BY_NAME[column].categories, (counts / counts.sum()).to_numpy())
    class_probs = {}
    for column in CLASS_COLUMNS:
        counts = real[column].value_counts().sort_index()
        class_probs[column] = (counts.index.to_numpy(np.int64), (counts / counts.sum()).to_numpy())
    ranges = {c: (int(real[c].min()), int(real[c].max())) for c in ("credit_amount", "age")}
    profile = ApplicantProfile(
        category_probs=category_probs,
        class_probs=class_probs,
        duration_amount_pairs=real[["duration_months", "credit_amount"]].to_numpy(np.int64),
        ages=real["age"].to_numpy(np.int64),
        ranges=ranges,
        intercept=0.0,
    )
    return _with_calibrated_intercept(profile)


@lru_cache(maxsize=1)
def default_profile() -> ApplicantProfile:
    """The profile fitted from the packaged German credit table (fitted once per process)."""
    return fit_profile()


def _with_calibrated_intercept(profile: ApplicantProfile) -> ApplicantProfile:
    """Find the intercept whose mean default probability equals TARGET_DEFAULT_RATE (bisection)."""
    features, _ = _draw_features(np.random.default_rng(0), 200_000, profile)
    logit = _planted_logit(features)
    low, high = -10.0, 10.0
    for _ in range(50):
        mid = (low + high) / 2
        if _sigmoid(logit + mid).mean() < TARGET_DEFAULT_RATE:
            low = mid
        else:
            high = mid
    return ApplicantProfile(**{**profile.__dict__, "intercept": (low + high) / 2})


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _draw_features(
    rng: np.random.Generator, n: int, profile: ApplicantProfile
) -> tuple[dict[str, np.ndarray], dict[str, tuple[str, ...]]]:
    """Draw n applicants' features: category codes (int8) and int64 numerics."""
    codes: dict[str, np.ndarray] = {}
    labels: dict[str, tuple[str, ...]] = {}
    for column, (categories, probs) in profile.category_probs.items():
        codes[column] = rng.choice(len(categories), size=n, p=probs).astype(np.int8)
        labels[column] = categories
    pairs = profile.duration_amount_pairs[rng.integers(0, len(profile.duration_amount_pairs), n)]
    lo, hi = profile.ranges["credit_amount"]
    amount = np.rint(pairs[:, 1] * rng.lognormal(0.0, 0.15, n))
    codes["duration_months"] = pairs[:, 0]
    codes["credit_amount"] = np.clip(amount, lo, hi).astype(np.int64)
    lo, hi = profile.ranges["age"]
    ages = profile.ages[rng.integers(0, len(profile.ages), n)] + rng.integers(-2, 3, n)
    codes["age"] = np.clip(ages, lo, hi)
    for column, (values, probs) in profile.class_probs.items():
        codes[column] = values[rng.choice(len(values), size=n, p=probs)]
    return codes, labels


def _planted_logit(features: dict[str, np.ndarray]) -> np.ndarray:
    """The planted risk signal without intercept (see the module docstring)."""
    logit = PER_MONTH_ABOVE_20 * (features["duration_months"] - 20.0)
    logit += PER_LOG_AMOUNT * np.log(features["credit_amount"] / 2500.0)
    logit += PER_YEAR_ABOVE_35 * (features["age"] - 35.0)
    logit += PER_INSTALLMENT_CLASS * (features["installment_rate"] - 2.0)
    for column, effects in PLANTED_EFFECTS.items():
        lookup = np.array([effects.get(c, 0.0) for c in BY_NAME[column].categories])
        logit += lookup[features[column]]
    return logit


def _chunk_frame(
    profile: ApplicantProfile, seed: int, chunk_index: int, n: int, first_id: int
) -> pd.DataFrame:
    """One chunk of applicants with the contract's columns and dtypes."""
    rng = np.random.default_rng([seed, chunk_index])
    features, labels = _draw_features(rng, n, profile)
    default = rng.random(n) < _sigmoid(_planted_logit(features) + profile.intercept)
    columns: dict[str, object] = {ID_COLUMN: np.arange(first_id, first_id + n, dtype=np.int64)}
    for column in BY_NAME:
        if column in labels:
            # Dictionary -> string in Arrow is ~10x faster than mapping Python strings.
            arrow = pa.DictionaryArray.from_arrays(
                pa.array(features[column]), pa.array(labels[column])
            ).cast(pa.large_string())
            columns[column] = arrow.to_pandas()
        else:
            columns[column] = features[column].astype(np.int64)
    columns[TARGET_COLUMN] = default.astype(np.int64)
    return pd.DataFrame(columns)


def iter_applicant_chunks(
    n_rows: int,
    seed: int = 42,
    chunk_rows: int = CHUNK_ROWS,
    profile: ApplicantProfile | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield synthetic applicants chunk by chunk (ids 1..n_rows), deterministic for the seed."""
    if n_rows < 0 or chunk_rows <= 0:
        raise ValueError(f"n_rows must be >= 0 and chunk_rows > 0, got {n_rows=}, {chunk_rows=}")
    profile = profile or default_profile()
    for index, start in enumerate(range(0, n_rows, chunk_rows)):
        yield _chunk_frame(profile, seed, index, min(chunk_rows, n_rows - start), start + 1)


def generate_applicants(n_rows: int, seed: int = 42, chunk_rows: int = CHUNK_ROWS) -> pd.DataFrame:
    """Synthetic applicants as one DataFrame (for moderate n; use the parquet writer for 10M)."""
    chunks = list(iter_applicant_chunks(n_rows, seed, chunk_rows))
    if not chunks:
        return _chunk_frame(default_profile(), seed, 0, 0, 1)
    return pd.concat(chunks, ignore_index=True)


def write_applicants_parquet(
    path: str | Path, n_rows: int, seed: int = 42, chunk_rows: int = CHUNK_ROWS
) -> Path:
    """Stream synthetic applicants to a parquet file, one chunk (row group) in memory at a time."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer: pq.ParquetWriter | None = None
    try:
        for chunk in iter_applicant_chunks(n_rows, seed, chunk_rows):
            table = pa.Table.from_pandas(chunk, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # n_rows == 0: still leave a valid, empty file with the schema
        empty = generate_applicants(0, seed)
        pq.write_table(pa.Table.from_pandas(empty, preserve_index=False), path)
    return path
