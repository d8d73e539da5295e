"""A fitted credit model as plain arrays: what data_science builds and every consumer loads.

Each characteristic's values fall into *slots*: a numeric one's slots are the scorecard's bins
(``searchsorted(edges, x, side="right")``) and then "missing"; a categorical one's slots are its
categories (in the contract's order), then "any other value", then "missing". Everything the
scorer needs per slot is precomputed at build time: the additive model's log-odds term, the
optbinning bin index (monitoring profiles), the value tried in counterfactuals and its weight in
the development sample (the reference applicant), and the reason and positive-factor texts.

The model is immutable: arrays are read-only, and ``deepcopy`` returns the same object (the
logged inference pipeline's catalog is deep-copied on every ``predict``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pyarrow as pa

from quantumfinance.scoring.trees import ChallengerArrays

FORMAT = 1  # bumped when the serialised layout changes
KINDS = ("scorecard", "challenger", "blend", "baseline")


def _frozen(values: Any, dtype: str) -> np.ndarray:
    array = np.array(values, dtype=dtype)
    array.flags.writeable = False
    return array


class _Immutable:
    """Shared by the model's parts: equal by value of their JSON form, never copied."""

    def __deepcopy__(self, memo: dict) -> Any:
        return self

    def __copy__(self) -> Any:
        return self


@dataclass(frozen=True, eq=False)
class Feature(_Immutable):
    """One characteristic of the model's input, its slots and their precomputed values."""

    name: str
    categorical: bool
    integer: bool
    nullable: bool
    minimum: float | None  # numeric only
    maximum: float | None
    categories: tuple[str, ...]  # categorical only, in the contract's order
    edges: np.ndarray  # numeric only: the scorecard's splits
    term: np.ndarray  # additive model: log-odds of default added by each slot
    slope: float  # additive model: log-odds per unit of a numeric value (baseline), else 0
    bin_index: np.ndarray  # optbinning's bin index of each slot (monitoring profiles)
    probe: tuple[Any, ...]  # the value tried for each slot in counterfactuals (None: missing)
    weight: np.ndarray  # share of the development sample in each slot (the reference applicant)
    adverse: tuple[str, ...]  # reason text of an applicant in each slot
    favourable: tuple[str, ...]  # positive-factor text of an applicant in each slot

    @property
    def code(self) -> str:
        """The reason code of this characteristic."""
        return self.name.upper()

    @property
    def slots(self) -> int:
        return len(self.term)

    @property
    def missing_slot(self) -> int:
        return self.slots - 1

    @property
    def edges_list(self) -> list[float]:
        """The edges as Python floats (bisection of a single value)."""
        return self.__dict__.setdefault("_edges_list", self.edges.tolist())

    @property
    def other_slot(self) -> int:
        """Categorical: the slot of a value the contract does not list."""
        return len(self.categories)


@dataclass(frozen=True, eq=False)
class Calibration(_Immutable):
    """Platt scaling on the log-odds (``sigmoid``) or isotonic interpolation of the raw PD."""

    method: str
    slope: float = 1.0
    intercept: float = 0.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()


CUT_OFFS = ("min_score", "max_pd", "max_pd_vs_default_rate")  # how a band's floor is set
MAX_CUT_OFF_PD = 0.99  # a relative cut-off beyond this (a high-default book) is capped here


@dataclass(frozen=True, eq=False)
class Policy(_Immutable):
    """Score scaling, bands (best first) and their decisions, and how many reasons to give."""

    offset: float  # score = offset + factor * ln(odds good:bad)
    factor: float
    bands: tuple[str, ...]
    min_scores: tuple[float, ...]  # descending, one per band
    decisions: tuple[str, ...]  # one per band
    max_reasons: int
    min_points_lost: float
    max_positive_factors: int
    min_points_gained: float
    # How the floors were set for this portfolio at training, for the reader (card, /v1/model).
    derived_from: str = ""

    @classmethod
    def of(
        cls,
        scaling: dict[str, float],
        policy: dict[str, Any],
        reasons: dict[str, Any],
        default_rate: float | None = None,
    ) -> Policy:
        """From the run's ``scoring`` parameters; every band must have a decision.

        A band's floor is a score (``min_score``), a PD cut-off (``max_pd``: applicants with a
        calibrated PD up to it reach the band), or a PD cut-off relative to the portfolio's
        default rate on the training split (``max_pd_vs_default_rate``), turned into a score at
        training with the scaling; the last band takes every score below the others."""
        factor = scaling["pdo"] / math.log(2)
        offset = scaling["base_score"] - factor * math.log(scaling["base_odds"])
        listed = list(policy["bands"])
        unmapped = [b["name"] for b in listed if b["name"] not in policy["decisions"]]
        if unmapped:
            raise ValueError(f"scoring.policy.decisions: no decision for band(s) {unmapped}")
        floors, notes = [], []
        for i, band in enumerate(listed):
            given = [k for k in CUT_OFFS if band.get(k) is not None]
            where = f"scoring.policy.bands[{i}] ({band['name']})"
            if len(given) != 1:
                raise ValueError(f"{where}: give exactly one of {', '.join(CUT_OFFS)}")
            if given[0] == "min_score":
                floors.append(float(band["min_score"]))
                continue
            pd_cut = float(band[given[0]])
            if given[0] == "max_pd_vs_default_rate":
                if default_rate is None or not 0 < default_rate < 1:
                    raise ValueError(
                        f"{where}: needs the training default rate, got {default_rate}"
                    )
                notes.append(f"{pd_cut:g}× ({band['name']})")
                pd_cut = min(pd_cut * default_rate, MAX_CUT_OFF_PD)
            if not 0 < pd_cut < 1:
                raise ValueError(
                    f"{where}: {given[0]} must give a PD between 0 and 1, got {pd_cut}"
                )
            floors.append(float(round(offset + factor * math.log((1 - pd_cut) / pd_cut))))
        if any(a <= b for a, b in zip(floors, floors[1:], strict=False)):
            raise ValueError(
                "scoring.policy.bands: floors must fall from the best band to the worst, got "
                + ", ".join(f"{b['name']} {f:g}" for b, f in zip(listed, floors, strict=True))
            )
        derived = (
            f"Set at training: PD cut-offs of {', '.join(notes)} the training default rate "
            f"({default_rate:.2%})"
            if notes
            else ""
        )
        return cls(
            offset=offset,
            factor=factor,
            bands=tuple(b["name"] for b in listed),
            min_scores=tuple(floors),
            decisions=tuple(policy["decisions"][b["name"]] for b in listed),
            max_reasons=int(reasons["max_reasons"]),
            min_points_lost=float(reasons["min_points_lost"]),
            max_positive_factors=int(reasons["max_positive_factors"]),
            min_points_gained=float(reasons["min_points_gained"]),
            derived_from=derived,
        )

    def max_pd(self, band: int) -> float:
        """The highest calibrated PD whose (unrounded) score reaches band ``band``'s floor."""
        return 1.0 / (1.0 + math.exp((self.min_scores[band] - self.offset) / self.factor))

    def points(self, log_odds_good: Any, with_offset: bool = True) -> Any:
        """THE mapping from log-odds (good:bad) to score points: offset + factor * ln(odds)."""
        return (self.offset if with_offset else 0.0) + self.factor * log_odds_good

    def as_parameters(self) -> dict[str, Any]:
        """Bands (with the score floor and the PD it stands for) and decisions, for display."""
        return {
            "bands": [
                {"name": b, "min_score": s, "max_pd": round(self.max_pd(i), 6)}
                for i, (b, s) in enumerate(zip(self.bands, self.min_scores, strict=True))
            ],
            "decisions": dict(zip(self.bands, self.decisions, strict=True)),
            "derived_from": self.derived_from,
        }


@dataclass(frozen=True, eq=False)
class ScoringModel(_Immutable):
    """Everything scoring needs, as plain values: see the module doc."""

    kind: str  # which candidate decides: scorecard, challenger, blend or baseline
    features: tuple[Feature, ...]
    intercept: float  # additive model's log-odds intercept
    calibration: Calibration
    policy: Policy
    contract: dict[str, Any]  # the applicant contract it was trained on, as plain data
    trees: ChallengerArrays | None = None  # challenger and blend
    blend_weight: float = 1.0  # blend: weight of the additive (scorecard) log-odds
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if self.kind in ("challenger", "blend") and self.trees is None:
            raise ValueError(f"a {self.kind} model needs its trees")

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def additive(self) -> bool:
        """True when each characteristic's points do not depend on the others (closed-form
        attribution): a linear model with Platt (or no) calibration."""
        return self.kind in ("scorecard", "baseline") and self.calibration.method == "sigmoid"

    # --- precomputed layout (built once per loaded model, on first use) ---

    @property
    def layout(self) -> dict[str, Any]:
        if not self._cache:
            sizes = [f.slots for f in self.features]
            offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype("int64")
            self._cache.update(
                offsets=offsets,
                term=np.concatenate([f.term for f in self.features]),
                slopes=np.array([f.slope for f in self.features]),
                has_slopes=any(f.slope for f in self.features),
                # -min_score, ascending: a score's band is found by one searchsorted
                band_floors=-np.asarray(self.policy.min_scores),
                codes_list=[f.code for f in self.features],
                adverse_list=[t for f in self.features for t in f.adverse],
                favourable_list=[t for f in self.features for t in f.favourable],
                weight=np.concatenate([f.weight for f in self.features]),
                adverse=pa.array([t for f in self.features for t in f.adverse], pa.string()),
                favourable=pa.array([t for f in self.features for t in f.favourable], pa.string()),
                codes=pa.array([f.code for f in self.features], pa.string()),
                lookup={
                    f.name: {c: i for i, c in enumerate(f.categories)}
                    for f in self.features
                    if f.categorical
                },
            )
        return self._cache

    # --- canonical serialisation ---

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values; ``to_json`` of equal models is byte-identical."""
        return {
            "format": FORMAT,
            "kind": self.kind,
            "features": [_plain(f) for f in self.features],
            "intercept": self.intercept,
            "calibration": _plain(self.calibration),
            "policy": _plain(self.policy),
            "contract": self.contract,
            "trees": self.trees.to_dict() if self.trees is not None else None,
            "blend_weight": self.blend_weight,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=1, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoringModel:
        if data.get("format") != FORMAT:
            raise ValueError(
                f"scoring model format {data.get('format')!r}; this runtime reads {FORMAT}"
            )
        features = tuple(_feature(f) for f in data["features"])
        return cls(
            kind=data["kind"],
            features=features,
            intercept=float(data["intercept"]),
            calibration=Calibration(**_tuples(data["calibration"])),
            policy=Policy(**_tuples(data["policy"])),
            contract=data["contract"],
            trees=ChallengerArrays.from_dict(data["trees"]) if data["trees"] else None,
            blend_weight=float(data["blend_weight"]),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ScoringModel:
        return cls.from_dict(json.loads(text))


_FEATURE_ARRAYS = {"edges": "float64", "term": "float64", "bin_index": "int64", "weight": "float64"}


def _plain(part: Any) -> dict[str, Any]:
    """A dataclass part as JSON values (arrays as lists, tuples as lists)."""
    out = {}
    for f in fields(part):
        if f.name.startswith("_"):
            continue
        value = getattr(part, f.name)
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _tuples(data: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


def _feature(data: dict[str, Any]) -> Feature:
    values = _tuples(data)
    for name, dtype in _FEATURE_ARRAYS.items():
        values[name] = _frozen(data[name], dtype)
    return Feature(**values)
