"""Reasons from the model that decides: per-applicant points lost (and gained) per characteristic.

For every characteristic the model is asked what the applicant's score would be with that one
characteristic set to each of its *probe values* (one per WoE bin of the scorecard, every
category, "missing" when allowed), all else unchanged. Points lost = best probe score - the
applicant's score; points gained = the applicant's score - worst probe score. For the additive
scorecard this is exactly "points lost against the best bin"; for a tree ensemble or a blend it
is the same question asked of that model, so the top reason is always the characteristic whose
change raises the score most. Texts name the applicant's value and the direction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from quantumfinance.columns import Columns
from quantumfinance.contract import Characteristic

MISSING_TEXT = "not given"
FEW_ITEMS = 64  # ranked items up to which texts are made one by one
CHUNK_ROWS = 4096  # applicants per counterfactual batch: bounded memory on large portfolios


@dataclass(frozen=True)
class Attribution:
    """Per applicant (rows) and characteristic (columns): points lost and gained, and the index
    of the best probe value (names the better group in a text)."""

    names: tuple[str, ...]
    lost: np.ndarray
    gained: np.ndarray
    best_probe: np.ndarray
    values: dict[str, np.ndarray] = field(default_factory=dict)  # the applicants' own values


@dataclass(frozen=True)
class ReasonTexts:
    """What a reason text needs of one characteristic (from the contract), as plain values."""

    label: str
    unit: str | None
    categorical: bool
    value_labels: dict[str, str]
    adverse: str | None  # the contract's direction phrase, e.g. "longer loans score lower"
    favourable: str | None
    template: str | None  # the contract's own `reason` template, if any

    def value(self, value: Any) -> str:
        """The applicant's value as a loan officer reads it."""
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return MISSING_TEXT
        if self.categorical:
            return self.value_labels.get(str(value), str(value))
        text = f"{float(value):,.2f}".rstrip("0").rstrip(".")
        return f"{text} {self.unit}" if self.unit and self.unit not in self.label else text

    def adverse_text(self, value: Any, better: Any, numeric_higher_is_better: bool) -> str:
        """E.g. "Loan duration (months) 48: longer loans score lower"."""
        if self.adverse:
            direction = self.adverse
        elif self.categorical or _is_missing(better):
            direction = f"scores lower than {self.value(better)}"
        else:
            direction = f"{'higher' if numeric_higher_is_better else 'lower'} values score better"
        if self.template:
            return self.template.format(
                label=self.label, value=self.value(value), direction=direction, suffix=direction
            )
        return f"{self.label} {self.value(value)}: {direction}"

    def favourable_text(self, value: Any) -> str:
        """E.g. "Loan duration (months) 12: shorter loans score higher"."""
        return f"{self.label} {self.value(value)}: {self.favourable or 'helps the score'}"


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def reason_texts_of(c: Characteristic) -> ReasonTexts:
    """The reason-text inputs of one characteristic of the contract."""
    return ReasonTexts(
        label=c.title,
        unit=c.unit,
        categorical=c.is_categorical,
        value_labels=dict(c.category_labels),
        adverse=c.adverse_direction,
        favourable=c.favourable_direction,
        template=c.reason,
    )


def probe_values(lookup: Any, c: Characteristic) -> np.ndarray:
    """One value per scorecard bin of a characteristic (categories: each of them), inside the
    contract's range, plus missing when the contract allows it."""
    if c.is_categorical:
        values: list[Any] = list(c.categories)
    else:
        splits = np.asarray(lookup.splits if lookup.splits is not None else [], dtype="float64")
        if c.type == "integer":  # the first whole number of each bin
            splits = np.ceil(splits)
        edges = [c.minimum, *splits[(splits > c.minimum) & (splits <= c.maximum)]]
        values = sorted({float(v) for v in edges})
    if c.nullable:
        values.append(None if c.is_categorical else np.nan)
    return np.array(values, dtype=object if c.is_categorical else "float64")


def counterfactual_attribution(
    score_of: Any, model_input: Columns, probes: dict[str, np.ndarray]
) -> Attribution:
    """Points lost/gained per characteristic by setting it to each probe value (see module doc).

    ``score_of(columns) -> np.ndarray`` scores applicants given as a dict of column arrays. One
    model call per chunk of applicants: the columns hold every (characteristic, probe) variant.
    """
    names = tuple(probes)
    parts = [
        _attribution_chunk(score_of, model_input.slice(start, start + CHUNK_ROWS), probes, names)
        for start in range(0, max(len(model_input), 1), CHUNK_ROWS)
    ]
    return Attribution(
        names,
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        {name: np.asarray(model_input[name]) for name in names},
    )


def _attribution_chunk(
    score_of: Any, chunk: Columns, probes: dict[str, np.ndarray], names: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(chunk)
    sizes = [len(probes[name]) for name in names]
    total = sum(sizes)
    columns: dict[str, np.ndarray] = {}
    for name in chunk.columns:
        values = np.asarray(chunk[name])
        dtype = object if values.dtype == object or name not in probes else "float64"
        columns[name] = np.tile(values.astype(dtype), total + 1)
    offset = 1  # block 0: the applicants as they are
    for name, size in zip(names, sizes, strict=True):
        columns[name][offset * n : (offset + size) * n] = np.repeat(probes[name], n)
        offset += size
    scores = np.asarray(score_of(columns), dtype="float64").reshape(total + 1, n)
    own = scores[0]
    lost, gained, best = (np.empty((n, len(names))) for _ in range(3))
    offset = 1
    for j, size in enumerate(sizes):
        block = scores[offset : offset + size]
        lost[:, j] = block.max(axis=0) - own
        gained[:, j] = own - block.min(axis=0)
        best[:, j] = block.argmax(axis=0)
        offset += size
    return np.maximum(lost, 0.0), np.maximum(gained, 0.0), best.astype("int64")


@dataclass(frozen=True)
class Ranked:
    """Each applicant's top items (characteristic and points), flattened applicant by applicant:
    those of applicant ``i`` are ``offsets[i]:offsets[i + 1]``, best first."""

    offsets: np.ndarray  # int32, one more than applicants
    rows: np.ndarray  # the applicant of each item
    columns: np.ndarray  # the characteristic of each item
    points: np.ndarray


def ranked_reasons(points: np.ndarray, max_reasons: int, min_points: float) -> Ranked:
    """Per applicant: up to ``max_reasons`` characteristics with the most points, above the floor."""
    order = np.argsort(-points, axis=1, kind="stable")[:, :max_reasons]
    top = np.take_along_axis(points, order, axis=1)
    keep = top > min_points  # a prefix of each row: ``top`` is in descending order
    counts = keep.sum(axis=1)
    offsets = np.zeros(len(points) + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    return Ranked(offsets, np.repeat(np.arange(len(points)), counts), order[keep], top[keep])


def item_texts(
    ranked: Ranked,
    values: list[np.ndarray],
    probes: np.ndarray | None,
    text_of: Callable[[int, Any, int], str],
) -> np.ndarray:
    """The text of every ranked item: ``text_of(column, value, probe)`` is called once per
    distinct (characteristic, applicant's value, best probe) -- a book repeats its values."""
    texts = np.empty(len(ranked.columns), dtype=object)
    if len(texts) <= FEW_ITEMS:  # a request: a loop beats factorizing per characteristic
        for k, (i, j) in enumerate(zip(ranked.rows.tolist(), ranked.columns.tolist(), strict=True)):
            value = values[j][i]
            value = value.item() if isinstance(value, np.generic) else value
            texts[k] = text_of(j, value, int(probes[i, j]) if probes is not None else 0)
        return texts
    for j in np.unique(ranked.columns).tolist():
        at = np.flatnonzero(ranked.columns == j)
        rows = ranked.rows[at]
        codes, uniques = pd.factorize(values[j][rows], use_na_sentinel=False)
        plain = uniques.tolist()  # Python values, as the texts format them
        width = int(probes[:, j].max()) + 1 if probes is not None else 1
        keys = codes * width + (probes[rows, j] if probes is not None else 0)
        distinct, inverse = np.unique(keys, return_inverse=True)
        table = [text_of(j, plain[k // width], k % width) for k in distinct.tolist()]
        texts[at] = np.array(table, dtype=object)[inverse]
    return texts
