"""Synthetic applicants for any applicant contract: its columns, values and a planted risk signal.

The generator knows only the contract (``conf/<env>/applicant_contract.yml``) and, optionally, a
*reference* table: applicants in contract column names with the target in its source coding (what
ingest writes as ``raw_applicants``). ``fit_profile`` turns the two into a ``SyntheticProfile``;
rows are then drawn from the profile, all vectorised numpy, one chunk at a time.

**Marginals.** Every characteristic is drawn independently of the others.

* *With a reference*: a categorical one from the reference's category frequencies; a numeric one
  by resampling the reference's values and adding Gaussian noise of ``JITTER`` (5 %) of the
  column's standard deviation (so values are not limited to the reference's), clipped to the
  contract's ``minimum``/``maximum`` and rounded for integers. A nullable characteristic is
  missing as often as in the reference. A column the reference lacks is drawn as below.
* *Without a reference*: categories uniformly; numbers uniformly between the contract's bounds,
  or log-uniformly (``log1p`` scale) when the range is positive and wide (``maximum + 1`` at least
  ``LOG_RANGE_RATIO`` times ``minimum + 1``, e.g. amounts and incomes); ``MISSING_SHARE`` (5 %)
  missing for nullable characteristics.

Nullable integers are float64 columns (whole numbers, NaN when missing), as pandas reads a CSV.

**Planted risk signal.** Each characteristic's values fall into *levels*: its categories, or
``BANDS`` (5) bands of a numeric one, plus one level for "missing". The default flag is
Bernoulli(sigmoid(intercept + sum of the log-odds effects of each row's levels)).

* *With a reference*: bands are the reference's quintiles (one band per value when the column
  has at most ``MAX_DISCRETE_LEVELS`` distinct values, e.g. classes 1-4), and the effect of a
  level is the reference's own default rate in that level, shrunk towards the overall rate by
  ``PRIOR_ROWS`` (30) pseudo-rows, as log-odds relative to the overall rate (a weight of
  evidence). Because the synthetic characteristics are independent, their effects add up (naive
  Bayes), so the signal is somewhat cleaner than in the reference.
* *Without a reference*: bands are equal-width on the drawing scale and effects are random but
  seeded by the characteristic's name (the same contract always plants the same signal, whatever
  the seed): categories and "missing" get Normal(0, ``EFFECT_SD``) log-odds; for numbers the
  log-odds change by ``EFFECT_SPREAD`` (0.8-1.6) across the bands, shaped by
  ``monotonic_trend``: ascending, risk rises linearly from the lowest band to the highest;
  descending, it falls; peak/concave, the middle band is that much riskier than the end bands
  (quadratic); valley/convex, that much safer; auto or none, linear in a random direction.
* Only model inputs carry a signal: a characteristic that is ``protected`` or not
  ``use_in_model`` has no planted effect. As every characteristic is drawn independently, a
  protected attribute is then independent of the target and of the model's inputs: a fairness
  report on synthetic data should find no gap beyond noise.
* The intercept is calibrated by bisection on a fixed sample of ``CALIBRATION_ROWS`` so the
  population default rate equals the reference's (``DEFAULT_RATE``, 20 %, without one).

The target is written in the contract's source coding: ``target.bad[0]`` for a default,
``target.good[0]`` otherwise; the id column is 1..n.

**Determinism.** Chunk ``i`` is drawn from ``numpy.random.default_rng([seed, i])``, so the same
``(n_rows, seed, chunk_rows)`` and profile always give the same rows, and a chunk does not depend
on how many chunks follow it, whether the rows are returned as one DataFrame
(``generate_applicants``) or streamed to parquet (``write_applicants_parquet``, which holds one
chunk in memory at a time — 10,000,000 rows stay well under 2 GB).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from quantumfinance.contract import ApplicantContract, Characteristic

CHUNK_ROWS = 100_000
DEFAULT_RATE = 0.20  # default rate without a reference table
MISSING_SHARE = 0.05  # missing share of a nullable characteristic without a reference table
JITTER = 0.05  # noise on a resampled number, in standard deviations of the reference column
LOG_RANGE_RATIO = 100  # (maximum + 1) / (minimum + 1) from which numbers are drawn log-uniformly
BANDS = 5  # levels of a numeric characteristic for the planted signal
MAX_DISCRETE_LEVELS = 10  # a reference column with this few distinct values: one level each
PRIOR_ROWS = 30.0  # shrinkage of a level's default rate towards the overall rate
EFFECT_SD = 0.5  # random categorical effects (log-odds), no reference table
EFFECT_SPREAD = (0.8, 1.6)  # random numeric effect: highest minus lowest band (log-odds)
CALIBRATION_ROWS = 200_000
CALIBRATION_SEED = 20_240_601
EFFECT_SALT = 7_919  # seeds the random effects together with the characteristic's name

_ASCENDING = {"ascending"}
_DESCENDING = {"descending"}
_PEAK = {"peak", "peak_heuristic", "concave"}
_VALLEY = {"valley", "valley_heuristic", "convex"}


@dataclass(frozen=True)
class CharacteristicProfile:
    """How one characteristic is drawn and what its levels add to the default log-odds."""

    characteristic: Characteristic
    missing_share: float
    probs: np.ndarray | None  # categorical: frequency of each contract category
    values: np.ndarray | None  # numeric with a reference: the values to resample
    jitter: float  # numeric with a reference: sd of the noise added to a resampled value
    log_scale: bool  # numeric without a reference: drawn log-uniformly
    edges: np.ndarray  # numeric: inner band edges (band = searchsorted(edges, x, "right"))
    effects: np.ndarray  # log-odds per level; the last level is "missing"

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(values, levels) of n applicants: category codes (-1 = missing) or numbers (NaN)."""
        c = self.characteristic
        if c.is_categorical:
            values = rng.choice(len(self.probs), size=n, p=self.probs).astype(np.int16)
        elif self.values is not None:
            values = self.values[rng.integers(0, len(self.values), n)]
            values = values + rng.normal(0.0, self.jitter, n)
        elif self.log_scale:
            low, high = np.log1p(c.minimum), np.log1p(c.maximum)
            values = np.expm1(low + rng.random(n) * (high - low))
        else:
            values = c.minimum + rng.random(n) * (c.maximum - c.minimum)
        if not c.is_categorical:
            values = np.clip(values, c.minimum, c.maximum)
            if c.type == "integer":
                values = np.rint(values)
        if c.nullable:
            missing = rng.random(n) < self.missing_share
            values = np.where(missing, -1 if c.is_categorical else np.nan, values)
        return values, self.levels(values)

    def levels(self, values: np.ndarray) -> np.ndarray:
        """Level of each value: category code or band; the last level for missing."""
        missing_level = len(self.effects) - 1
        if self.characteristic.is_categorical:
            return np.where(values < 0, missing_level, values).astype(np.intp)
        bands = np.searchsorted(self.edges, values, side="right")
        return np.where(np.isnan(values), missing_level, bands)


@dataclass(frozen=True)
class SyntheticProfile:
    """Everything the generator needs: per-characteristic draws and effects, the intercept."""

    contract: ApplicantContract
    characteristics: tuple[CharacteristicProfile, ...]
    default_rate: float
    intercept: float
    schema: pa.Schema


def fit_profile(
    contract: ApplicantContract, reference: pd.DataFrame | None = None
) -> SyntheticProfile:
    """Fit marginals, planted effects and the intercept (see the module docstring)."""
    flags = None
    if reference is not None and contract.target.name in reference:
        known = contract.target.flag(reference[contract.target.name])
        flags = known if known.notna().any() else None
    rate = float(flags.mean()) if flags is not None else DEFAULT_RATE
    profiles = []
    for c in contract.characteristics:
        column = reference[c.name] if reference is not None and c.name in reference else None
        profile = _from_reference(c, column) if column is not None else _from_contract(c)
        signal = c.use_in_model and not c.protected
        if not signal:
            effects = np.zeros_like(profile.effects)
        elif column is not None and flags is not None:
            effects = _reference_effects(profile, column, flags, rate)
        else:
            effects = _random_effects(profile)
        profiles.append(_replace(profile, effects=effects))
    profiles = tuple(profiles)
    intercept = _calibrated_intercept(profiles, rate)
    return SyntheticProfile(contract, profiles, rate, intercept, _schema(contract))


def _replace(profile: CharacteristicProfile, **changes: object) -> CharacteristicProfile:
    return CharacteristicProfile(**{**profile.__dict__, **changes})


def _from_contract(c: Characteristic) -> CharacteristicProfile:
    """Uniform categories, uniform or log-uniform numbers, MISSING_SHARE missing."""
    missing = MISSING_SHARE if c.nullable else 0.0
    if c.is_categorical:
        k = len(c.categories)
        return CharacteristicProfile(
            c, missing, np.full(k, 1.0 / k), None, 0.0, False, np.empty(0), np.zeros(k + 1)
        )
    log_scale = c.minimum >= 0 and (c.maximum + 1) >= LOG_RANGE_RATIO * (c.minimum + 1)
    scale = np.log1p if log_scale else (lambda x: x)
    low, high = scale(c.minimum), scale(c.maximum)
    edges = low + (high - low) * np.arange(1, BANDS) / BANDS
    edges = np.expm1(edges) if log_scale else edges
    return CharacteristicProfile(
        c, missing, None, None, 0.0, log_scale, np.unique(edges), np.zeros(BANDS + 1)
    )


def _from_reference(c: Characteristic, column: pd.Series) -> CharacteristicProfile:
    """Frequencies, values and missing share of one reference column."""
    missing = column.isna()
    if c.is_categorical:
        codes = pd.Categorical(column, categories=list(c.categories)).codes
        counts = np.bincount(codes[codes >= 0], minlength=len(c.categories)).astype(float)
        if counts.sum() == 0:
            return _from_contract(c)
        share = missing.sum() / (missing.sum() + counts.sum())
        return CharacteristicProfile(
            c,
            float(share) if c.nullable else 0.0,
            counts / counts.sum(),
            None,
            0.0,
            False,
            np.empty(0),
            np.zeros(len(c.categories) + 1),
        )
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    values = numbers[~np.isnan(numbers)]
    if len(values) == 0:
        return _from_contract(c)
    share = missing.sum() / (missing.sum() + len(values))
    distinct = np.unique(values)
    if len(distinct) <= MAX_DISCRETE_LEVELS:  # e.g. classes 1-4, counts: one level per value
        edges = distinct[1:]
    else:  # quintiles; an edge at the minimum would leave its band empty
        edges = np.unique(np.quantile(values, np.arange(1, BANDS) / BANDS))
        edges = edges[edges > distinct[0]]
    return CharacteristicProfile(
        c,
        float(share) if c.nullable else 0.0,
        None,
        values,
        JITTER * float(values.std()),
        False,
        edges,
        np.zeros(len(edges) + 2),
    )


def _reference_effects(
    profile: CharacteristicProfile, column: pd.Series, flags: pd.Series, rate: float
) -> np.ndarray:
    """Shrunk log-odds of default per level, relative to the overall rate (weight of evidence)."""
    c = profile.characteristic
    if c.is_categorical:
        codes = pd.Categorical(column, categories=list(c.categories)).codes.astype(float)
        invalid = column.notna().to_numpy() & (codes < 0)  # a value outside the categories
        values = np.where(column.isna(), -1.0, codes)
    else:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        invalid = column.notna().to_numpy() & np.isnan(values)
    known = flags.notna().to_numpy() & ~invalid
    levels = profile.levels(values[known])
    size = len(profile.effects)
    bad = np.bincount(levels, weights=flags.to_numpy()[known], minlength=size)
    rows = np.bincount(levels, minlength=size)
    shrunk = (bad + PRIOR_ROWS * rate) / (rows + PRIOR_ROWS)
    return _logit(shrunk) - _logit(rate)


def _random_effects(profile: CharacteristicProfile) -> np.ndarray:
    """Seeded random effects whose shape follows the characteristic's monotonic_trend."""
    c = profile.characteristic
    rng = np.random.default_rng([EFFECT_SALT, zlib.crc32(c.name.encode())])
    if c.is_categorical:
        return rng.normal(0.0, EFFECT_SD, len(profile.effects))
    bands = len(profile.effects) - 1
    position = np.linspace(-0.5, 0.5, bands)  # lowest band -0.5, highest +0.5
    spread = rng.uniform(*EFFECT_SPREAD)
    trend = c.monotonic_trend
    if trend in _PEAK or trend in _VALLEY:  # middle and ends differ by `spread`
        shape = 4 * (position**2 - np.mean(position**2))
        effects = spread * (-shape if trend in _PEAK else shape)
    else:
        sign = 1.0 if trend in _ASCENDING else -1.0 if trend in _DESCENDING else rng.choice([-1, 1])
        effects = sign * spread * position
    return np.append(effects, rng.normal(0.0, EFFECT_SD))


def _logit(p: np.ndarray | float) -> np.ndarray:
    return np.log(p) - np.log1p(-np.asarray(p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _planted_logit(
    profiles: tuple[CharacteristicProfile, ...], rng: np.random.Generator, n: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Draw every characteristic of n applicants; return the values and the logit w/o intercept."""
    values, logit = [], np.zeros(n)
    for profile in profiles:
        drawn, levels = profile.draw(rng, n)
        values.append(drawn)
        logit += profile.effects[levels]
    return values, logit


def _calibrated_intercept(profiles: tuple[CharacteristicProfile, ...], rate: float) -> float:
    """The intercept whose mean default probability on a fixed sample equals `rate` (bisection)."""
    _, logit = _planted_logit(profiles, np.random.default_rng(CALIBRATION_SEED), CALIBRATION_ROWS)
    low, high = -20.0, 20.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if _sigmoid(logit + mid).mean() < rate else (low, mid)
    return (low + high) / 2


def _schema(contract: ApplicantContract) -> pa.Schema:
    """Arrow types of the generated columns (explicit, so every chunk and file agree)."""
    fields = [pa.field(contract.id.name, pa.int64(), nullable=False)]
    for c in contract.characteristics:
        if c.is_categorical:
            kind = pa.string()
        elif c.type == "integer" and not c.nullable:
            kind = pa.int64()
        else:
            kind = pa.float64()
        fields.append(pa.field(c.name, kind, nullable=c.nullable))
    codes = pa.array([contract.target.good[0], contract.target.bad[0]])
    fields.append(pa.field(contract.target.name, codes.type, nullable=False))
    return pa.schema(fields)


def _chunk_table(
    profile: SyntheticProfile, seed: int, index: int, n: int, first_id: int
) -> pa.Table:
    """One chunk of applicants as an Arrow table with the contract's columns."""
    rng = np.random.default_rng([seed, index])
    values, logit = _planted_logit(profile.characteristics, rng, n)
    default = rng.random(n) < _sigmoid(logit + profile.intercept)
    schema = profile.schema
    columns = [pa.array(np.arange(first_id, first_id + n, dtype=np.int64))]
    for p, drawn in zip(profile.characteristics, values, strict=True):
        c = p.characteristic
        if c.is_categorical:
            # Dictionary -> string in Arrow is ~10x faster than mapping Python strings.
            codes = pa.array(drawn, mask=drawn < 0)
            labels = pa.array(c.categories, pa.string())
            columns.append(pa.DictionaryArray.from_arrays(codes, labels).cast(pa.string()))
        elif c.type == "integer" and not c.nullable:
            columns.append(pa.array(drawn.astype(np.int64)))
        else:
            columns.append(pa.array(drawn, mask=np.isnan(drawn)))
    target = schema.field(profile.contract.target.name).type
    codes = pa.array([profile.contract.target.good[0], profile.contract.target.bad[0]], target)
    columns.append(codes.take(pa.array(default.astype(np.int8))))
    return pa.Table.from_arrays(columns, schema=schema)


def iter_applicant_tables(
    profile: SyntheticProfile, n_rows: int, seed: int = 42, chunk_rows: int = CHUNK_ROWS
) -> Iterator[pa.Table]:
    """Yield synthetic applicants chunk by chunk as Arrow tables (ids 1..n_rows)."""
    if n_rows < 0 or chunk_rows <= 0:
        raise ValueError(f"n_rows must be >= 0 and chunk_rows > 0, got {n_rows=}, {chunk_rows=}")
    for index, start in enumerate(range(0, n_rows, chunk_rows)):
        yield _chunk_table(profile, seed, index, min(chunk_rows, n_rows - start), start + 1)


def generate_applicants(
    contract: ApplicantContract,
    n_rows: int,
    seed: int = 42,
    reference: pd.DataFrame | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> pd.DataFrame:
    """Synthetic applicants with exactly ``contract.columns`` (for moderate n; 10M: parquet)."""
    profile = fit_profile(contract, reference)
    tables = list(iter_applicant_tables(profile, n_rows, seed, chunk_rows))
    table = pa.concat_tables(tables) if tables else profile.schema.empty_table()
    return table.to_pandas()


def write_applicants_parquet(
    path: str | Path,
    contract: ApplicantContract,
    n_rows: int,
    seed: int = 42,
    reference: pd.DataFrame | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Path:
    """Stream synthetic applicants to parquet, one chunk (= one row group) in memory at a time."""
    profile = fit_profile(contract, reference)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, profile.schema) as writer:
        for table in iter_applicant_tables(profile, n_rows, seed, chunk_rows):
            writer.write_table(table, row_group_size=max(len(table), 1))
    return path
