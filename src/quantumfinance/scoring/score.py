"""Checked applicants -> PD -> points -> band -> decision -> reasons and positive factors.

One attribution serves both lists: each characteristic's *points against the reference
applicant* -- the applicant's score minus the score they would get with that one characteristic
set as in the development sample (its slots' values weighted by their shares), all else
unchanged. A characteristic below the reference can be a reason (points lost), one above it a
positive factor (points gained), never both. For a scorecard (or the linear baseline) with Platt
calibration this is exact arithmetic on the slots' log-odds terms; for trees, a blend or
isotonic calibration the same question is asked of the model with the slots' probe values.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa

from quantumfinance.scoring.check import Checked
from quantumfinance.scoring.model import ScoringModel

PD_FLOOR = 1e-6  # raw and calibrated PDs are kept inside (0, 1) so log-odds stay finite
SCORE_PD_CLIP = 1e-9  # the PD's log-odds in score points
CHUNK_ROWS = 2048  # applicants per counterfactual evaluation: bounded memory on a large book

REASON_ITEM = pa.struct([("code", pa.string()), ("text", pa.string()), ("points", pa.float64())])
REASON_FIELDS = list(REASON_ITEM)


def logit(pd_: np.ndarray) -> np.ndarray:
    p = np.clip(pd_, PD_FLOOR, 1 - PD_FLOOR)
    return np.log(p / (1 - p))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Ranked:
    """Each applicant's listed characteristics, flattened applicant by applicant: those of
    applicant ``i`` are ``offsets[i]:offsets[i + 1]``, largest points first."""

    offsets: np.ndarray  # int32, one more than applicants
    columns: np.ndarray  # the characteristic of each item
    slots: np.ndarray  # its global slot (the pre-rendered text)
    points: np.ndarray  # rounded to 0.1 point

    def __len__(self) -> int:
        return len(self.columns)


@dataclass(frozen=True)
class Scored:
    """One row per applicant, in order. Reasons and positive factors are kept as ranked arrays;
    their Arrow list columns are built when asked for (a request answers without them)."""

    model: ScoringModel
    pd: np.ndarray
    score: np.ndarray
    band: np.ndarray  # index into the policy's bands
    reasons: Ranked
    factors: Ranked
    slots: np.ndarray  # rows x features (monitoring profiles count them)

    def __len__(self) -> int:
        return len(self.pd)

    @cached_property
    def reason_codes(self) -> pa.ListArray:
        return _arrow_lists(self.model, self.reasons, "adverse")

    @cached_property
    def positive_factors(self) -> pa.ListArray:
        return _arrow_lists(self.model, self.factors, "favourable")

    def rows(self) -> list[dict]:
        """Plain dicts, one per applicant (what a JSON response lists)."""
        layout, policy = self.model.layout, self.model.policy
        codes = layout["codes_list"]
        out = []
        for i, (pd_, score_, band) in enumerate(
            zip(self.pd.tolist(), self.score.tolist(), self.band.tolist(), strict=True)
        ):
            out.append(
                {
                    "pd": pd_,
                    "score": score_,
                    "band": policy.bands[band],
                    "decision": policy.decisions[band],
                    "reason_codes": _items(self.reasons, i, codes, layout["adverse_list"]),
                    "positive_factors": _items(self.factors, i, codes, layout["favourable_list"]),
                }
            )
        return out


def _items(ranked: Ranked, i: int, codes: list, texts: list) -> list[dict]:
    start, stop = int(ranked.offsets[i]), int(ranked.offsets[i + 1])
    return [
        {"code": codes[j], "text": texts[k], "points": p}
        for j, k, p in zip(
            ranked.columns[start:stop].tolist(),
            ranked.slots[start:stop].tolist(),
            ranked.points[start:stop].tolist(),
            strict=True,
        )
    ]


def _arrow_lists(model: ScoringModel, ranked: Ranked, texts: str) -> pa.ListArray:
    """A ranked list as an Arrow list of {code, text, points}: texts taken by index."""
    layout = model.layout
    items = pa.StructArray.from_arrays(
        [
            layout["codes"].take(ranked.columns),
            layout[texts].take(ranked.slots),
            pa.array(ranked.points, pa.float64()),
        ],
        fields=REASON_FIELDS,
    )
    return pa.ListArray.from_arrays(pa.array(ranked.offsets, pa.int32()), items)


def _additive_terms(model: ScoringModel, checked: Checked) -> np.ndarray:
    """Each applicant's log-odds term per characteristic (slot term, + slope x number)."""
    layout = model.layout
    terms = layout["term"][checked.slots + layout["offsets"]]
    if layout["has_slopes"]:
        terms += np.where(np.isnan(checked.numbers), 0.0, checked.numbers) * layout["slopes"]
    return terms


def _additive_logit(model: ScoringModel, checked: Checked, terms: np.ndarray | None = None):
    """The linear model's log-odds of default: intercept + the terms."""
    terms = _additive_terms(model, checked) if terms is None else terms
    return terms.sum(axis=1) + model.intercept


def _tree_logit(model: ScoringModel, checked: Checked) -> np.ndarray:
    """The trees' raw log-odds; their input matrix made from the slots (a category's code in
    the trees' own order, NaN for missing or other) and the numbers."""
    layout = model.layout
    if "tree_inputs" not in layout:
        position = {f.name: j for j, f in enumerate(model.features)}
        inputs = []
        for name, known in zip(model.trees.characteristics, model.trees.categories, strict=True):
            j = position[name]
            if known is None:
                inputs.append((j, None))
                continue
            code = {c: float(k) for k, c in enumerate(known)}
            feature = model.features[j]
            codes = [code.get(c, np.nan) for c in feature.categories] + [np.nan, np.nan]
            inputs.append((j, np.array(codes)))
        layout["tree_inputs"] = inputs
    matrix = np.empty((len(checked), len(layout["tree_inputs"])))
    for k, (j, codes) in enumerate(layout["tree_inputs"]):
        matrix[:, k] = checked.numbers[:, j] if codes is None else codes[checked.slots[:, j]]
    return model.trees.ensemble.raw_score(matrix)


def raw_pd(model: ScoringModel, checked: Checked, terms: np.ndarray | None = None) -> np.ndarray:
    """The deciding candidate's PD before calibration."""
    if model.kind in ("scorecard", "baseline"):
        return sigmoid(_additive_logit(model, checked, terms))
    trees = sigmoid(_tree_logit(model, checked))
    if model.kind == "challenger":
        return trees
    w = model.blend_weight  # on the log-odds of the parts' PDs, as the blend was evaluated
    scorecard = sigmoid(_additive_logit(model, checked))
    return sigmoid(w * logit(scorecard) + (1 - w) * logit(trees))


def calibrated_pd(model: ScoringModel, checked: Checked, terms: np.ndarray | None = None):
    """The PD the decision uses."""
    raw = raw_pd(model, checked, terms)
    c = model.calibration
    if c.method == "isotonic":
        return np.clip(np.interp(raw, c.x, c.y), PD_FLOOR, 1 - PD_FLOOR)
    return sigmoid(c.slope * logit(raw) + c.intercept)


def exact_points(model: ScoringModel, pd_: np.ndarray) -> np.ndarray:
    """THE mapping from PD to (unrounded) score points: offset + factor * ln(odds good:bad)."""
    p = np.clip(pd_, SCORE_PD_CLIP, 1 - SCORE_PD_CLIP)
    return model.policy.points(np.log((1 - p) / p))


def attribution(
    model: ScoringModel, checked: Checked, own: np.ndarray, terms: np.ndarray | None = None
) -> np.ndarray:
    """Points against the reference applicant, rows x characteristics (see the module doc).

    Additive models: exact arithmetic on the terms, for every applicant whose score -- and the
    score of every variant the reference weighs -- stays clear of the PD clips (where the model
    saturates, a term no longer moves the score); those few are asked of the model."""
    if not model.additive:
        return _counterfactual_chunks(model, checked, own)
    terms = _additive_terms(model, checked) if terms is None else terms
    scale = -model.policy.factor * model.calibration.slope  # points per log-odds of default
    points = scale * (terms - _reference_terms(model))
    saturated = _near_clip(model, terms)
    if saturated.any():
        rows = np.flatnonzero(saturated)
        points[rows] = _counterfactual_chunks(model, checked.take(rows), own[rows])
    return points


def _counterfactual_chunks(model: ScoringModel, checked: Checked, own: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [
            _counterfactual(model, checked.take(slice(s, s + CHUNK_ROWS)), own[s : s + CHUNK_ROWS])
            for s in range(0, max(len(checked), 1), CHUNK_ROWS)
        ]
    )[: len(checked)]


def _near_clip(model: ScoringModel, terms: np.ndarray) -> np.ndarray:
    """Rows whose log-odds, or a reference variant's, may reach a PD clip (raw or scored)."""
    layout = model.layout
    if "term_range" not in layout:
        spans = []
        for f in model.features:
            used = f.weight > 0
            values = (f.term + f.slope * np.nan_to_num(_probe_numbers(f)))[used]
            spans.append((values.min(), values.max()) if used.any() else (0.0, 0.0))
        raw = np.log((1 - PD_FLOOR) / PD_FLOOR) * (1 - 1e-6)
        scored = np.log((1 - SCORE_PD_CLIP) / SCORE_PD_CLIP) * (1 - 1e-6)
        c = model.calibration
        slope = c.slope or 1e-300  # a flat calibration: every score is clipped alike
        ends = sorted([(-scored - c.intercept) / slope, (scored - c.intercept) / slope])
        layout["term_range"] = (np.array(spans), max(-raw, ends[0]), min(raw, ends[1]))
    spans, low, high = layout["term_range"]
    logit_ = terms.sum(axis=1) + model.intercept
    others = logit_[:, None] - terms
    return ((others + spans[:, 0] <= low) | (others + spans[:, 1] >= high)).any(axis=1) | (
        (logit_ <= low) | (logit_ >= high)
    )


def _reference_terms(model: ScoringModel) -> np.ndarray:
    """Each characteristic's development-weighted mean log-odds term (cached per model)."""
    cache = model.layout
    if "reference" not in cache:
        cache["reference"] = np.array(
            [
                float(f.weight @ (f.term + f.slope * np.nan_to_num(_probe_numbers(f))))
                for f in model.features
            ]
        )
    return cache["reference"]


def _probe_numbers(feature) -> np.ndarray:
    if feature.categorical:
        return np.full(feature.slots, np.nan)
    return np.array([np.nan if v is None else v for v in feature.probe], dtype="float64")


def _counterfactual(model: ScoringModel, chunk: Checked, own: np.ndarray) -> np.ndarray:
    """Score every applicant with each characteristic set to each of its weighted slots."""
    n, d = chunk.slots.shape
    out = np.empty((n, d))
    for j, feature in enumerate(model.features):
        used = np.flatnonzero(feature.weight > 0)
        slots = np.tile(chunk.slots, (len(used), 1))
        numbers = np.tile(chunk.numbers, (len(used), 1))
        slots[:, j] = np.repeat(used, n)
        numbers[:, j] = np.repeat(_probe_numbers(feature)[used], n)
        points = exact_points(model, calibrated_pd(model, Checked(slots, numbers)))
        reference = feature.weight[used] @ points.reshape(len(used), n)
        out[:, j] = own - reference
    return out


def _ranked(points: np.ndarray, limit: int, floor: float, slots: np.ndarray) -> Ranked:
    """Per applicant, up to ``limit`` characteristics whose points exceed ``floor``, largest
    first (ties: contract order)."""
    n = len(points)
    order = np.argsort(-points, axis=1, kind="stable")[:, :limit]
    rows = np.arange(n)[:, None]
    top = points[rows, order]
    keep = top > floor  # a prefix of each row (descending)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(keep.sum(axis=1), out=offsets[1:])
    return Ranked(offsets, order[keep], slots[rows, order][keep], np.round(top[keep], 1))


def score(model: ScoringModel, checked: Checked) -> Scored:
    """Score checked applicants (see ``check``): PD, points, band, decision index, reasons."""
    terms = _additive_terms(model, checked) if model.kind in ("scorecard", "baseline") else None
    pd_ = calibrated_pd(model, checked, terms)
    exact = exact_points(model, pd_)
    score_ = exact.round().astype("int64")
    layout, policy = model.layout, model.policy
    # The first band (best first) whose floor the score reaches = how many floors are above it.
    band = np.minimum(
        np.searchsorted(layout["band_floors"], -score_, side="left"), len(policy.bands) - 1
    )
    points = attribution(model, checked, exact, terms)
    global_slots = checked.slots + layout["offsets"]
    return Scored(
        model=model,
        pd=pd_,
        score=score_,
        band=band,
        reasons=_ranked(-points, policy.max_reasons, policy.min_points_lost, global_slots),
        factors=_ranked(
            points, policy.max_positive_factors, policy.min_points_gained, global_slots
        ),
        slots=checked.slots,
    )
