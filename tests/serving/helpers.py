"""Test helpers of the serving tests: applicants drawn from a contract, and a constant model.

Nothing here names a portfolio's columns: applicants come from whatever contract is given (the
shipped ones in conf/, or the one a trained model carries).
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quantumfinance.contract import ApplicantContract, load_contract
from quantumfinance.scoring import Calibration, Feature, Policy, ScoringModel
from quantumfinance_serving.model_store import LoadedModel, ModelIdentity

REPO_ROOT = Path(__file__).resolve().parents[2]


def shipped_contract(env: str) -> ApplicantContract:
    """The contract of a shipped portfolio: ``base`` (German credit) or ``cards``."""
    return load_contract(REPO_ROOT / "conf" / env / "applicant_contract.yml")


def random_applicants(
    contract: ApplicantContract, n: int, seed: int, missing_share: float = 0.1
) -> list[dict[str, Any]]:
    """``n`` valid applicants, each input drawn uniformly from its categories or range; a
    nullable input is missing (None) in about ``missing_share`` of the rows."""
    rng = np.random.default_rng(seed)
    columns: dict[str, list[Any]] = {}
    for c in contract.features:
        if c.is_categorical:
            values: list[Any] = [str(v) for v in rng.choice(list(c.categories), n)]
        elif c.type == "integer":
            values = rng.integers(math.ceil(c.minimum), math.floor(c.maximum) + 1, n).tolist()
        else:
            values = np.round(rng.uniform(c.minimum, c.maximum, n), 2).tolist()
        if c.nullable:
            values = [
                None if m else v for v, m in zip(values, rng.random(n) < missing_share, strict=True)
            ]
        columns[c.name] = values
    return [{name: columns[name][i] for name in contract.feature_names} for i in range(n)]


def json_applicants(frame: pd.DataFrame, contract: ApplicantContract) -> list[dict[str, Any]]:
    """Rows of an applicant table (e.g. a trained project's test split) as JSON-able request
    dicts of the contract's inputs: numbers as int/float by type, a missing value as None."""
    rows = []
    for record in frame[list(contract.feature_names)].to_dict("records"):
        row: dict[str, Any] = {}
        for c in contract.features:
            value = record[c.name]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                row[c.name] = None
            elif c.is_categorical:
                row[c.name] = str(value)
            else:
                row[c.name] = int(value) if c.type == "integer" else float(value)
        rows.append(row)
    return rows


class GatedModel(ScoringModel):
    """A scoring model that records each scoring call and, with ``gate``, holds it until the
    gate is set (to keep a request in flight across a model swap). The contract check does not
    wait: only scoring reads ``kind``."""

    def __init__(self, *args: Any, gate: threading.Event | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "gate", gate)
        object.__setattr__(self, "entered", threading.Event())
        object.__setattr__(self, "calls", [])
        object.__setattr__(self, "armed", True)

    def __getattribute__(self, name: str) -> Any:
        if name == "kind" and object.__getattribute__(self, "__dict__").get("armed"):
            self.calls.append(self.feature_names)
            self.entered.set()
            if self.gate is not None and not self.gate.wait(30):
                raise TimeoutError("stub model gate never opened")
        return object.__getattribute__(self, name)


def constant_model(
    contract: ApplicantContract, points: int, gate: threading.Event | None = None
) -> ScoringModel:
    """A real scoring-runtime model of ``contract`` that gives everyone ``points`` (every slot's
    term is 0; the intercept is the log-odds of that score) and no reasons."""
    features = []
    for c in contract.features:
        slots = len(c.categories) + 2 if c.is_categorical else 2
        features.append(
            Feature(
                name=c.name,
                categorical=c.is_categorical,
                integer=c.type == "integer",
                nullable=c.nullable,
                minimum=None if c.is_categorical else float(c.minimum),
                maximum=None if c.is_categorical else float(c.maximum),
                categories=tuple(c.categories or ()),
                edges=np.array([], dtype="float64"),
                term=np.zeros(slots),
                slope=0.0,
                bin_index=np.zeros(slots, dtype="int64"),
                probe=tuple([None] * slots),
                weight=np.ones(slots) / slots,
                adverse=("",) * slots,
                favourable=("",) * slots,
            )
        )
    policy = Policy.of(
        {"pdo": 20, "base_score": 600, "base_odds": 50},
        {"bands": [{"name": "A", "min_score": 0}], "decisions": {"A": "approve"}},
        {"max_reasons": 4, "min_points_lost": 0.5, "max_positive_factors": 3,
         "min_points_gained": 0.5},
    )  # fmt: skip
    intercept = -(points - policy.offset) / policy.factor  # log-odds of default of that score
    return GatedModel(
        kind="scorecard",
        features=tuple(features),
        intercept=intercept,
        calibration=Calibration("sigmoid"),
        policy=policy,
        contract=contract.as_dict(),
        gate=gate,
    )


def stub_model(
    contract: ApplicantContract,
    version: str,
    points: int = 600,
    gate: threading.Event | None = None,
) -> LoadedModel:
    """A LoadedModel around a constant scoring model: the real contract, schema and audit hash."""
    identity = ModelIdentity(
        f"models:/credit-score/{version}", f"models:/credit-score/{version}", "credit-score",
        version, None, None,
    )  # fmt: skip
    scoring = constant_model(contract, points, gate)
    return LoadedModel(identity, scoring, contract, {}, scoring.policy.as_parameters())


def varied_applicants(contract: ApplicantContract, n: int) -> list[dict[str, Any]]:
    """``n`` valid applicants: the contract's example with its first required number spread
    evenly over that number's range (so that their audit hashes and scores differ)."""
    c = next(c for c in contract.features if not c.is_categorical and not c.nullable)
    low, high = math.ceil(c.minimum), math.floor(c.maximum)
    spread = np.linspace(low, high, n) if c.type == "float" else np.linspace(low, high, n).round()
    values = [int(v) if c.type == "integer" else float(v) for v in spread]
    return [{**contract.example_applicant(), c.name: v} for v in values]
