"""Tables of the fitted scorecard: optbinning's binning table and points per bin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from quantumfinance.scoring import ScoringModel

if TYPE_CHECKING:
    from optbinning import BinningProcess
    from sklearn.pipeline import Pipeline


def _scorecard_parts(scorecard: Pipeline) -> tuple[BinningProcess, pd.Series, float]:
    """Binning, LR coefficients by characteristic, and intercept of a fitted scorecard."""
    binning, regression = scorecard.named_steps["woe"], scorecard.named_steps["regression"]
    coefficients = pd.Series(regression.coef_[0], index=binning.get_support(names=True))
    return binning, coefficients, float(regression.intercept_[0])


def bin_label(value: Any) -> str:
    """A bin as a reader sees it: an interval's text, or a category group's values joined
    (optbinning holds those as arrays, whose str() is an Arrow or numpy repr)."""
    if isinstance(value, str):
        return value
    if hasattr(value, "__len__"):
        return ", ".join(str(v) for v in list(value))
    return str(value)


def binning_table(fitted_candidates: dict[str, Any]) -> pd.DataFrame:
    """optbinning's binning table of every characteristic (bins, counts, event rate, WoE, IV)."""
    binning, coefficients, _ = _scorecard_parts(fitted_candidates["scorecard"])
    tables = []
    for name in coefficients.index:
        table = binning.get_binned_variable(name).binning_table.build(add_totals=False)
        table.insert(0, "characteristic", name)
        tables.append(table.assign(Bin=[bin_label(b) for b in table["Bin"]]))
    return pd.concat(tables, ignore_index=True)


def scorecard_table(fitted_candidates: dict[str, Any], scoring_model: ScoringModel) -> pd.DataFrame:
    """Points per bin of every characteristic (scaled with the model's one PD-to-points mapping)."""
    binning, coefficients, intercept = _scorecard_parts(fitted_candidates["scorecard"])
    policy = scoring_model.policy
    rows = [
        {
            "characteristic": "(base)",
            "bin": "",
            "count": 0,
            "woe": 0.0,
            "coefficient": intercept,
            "points": float(policy.points(-intercept)),
        }
    ]
    for name in coefficients.index:
        table = binning.get_binned_variable(name).binning_table.build(add_totals=False)
        coef = float(coefficients.get(name, 0.0))
        for _, b in table.iterrows():
            rows.append(
                {
                    "characteristic": name,
                    "bin": bin_label(b["Bin"]),
                    "count": int(b["Count"]),
                    "woe": float(b["WoE"]),
                    "coefficient": coef,
                    "points": float(policy.points(-coef * float(b["WoE"]), with_offset=False)),
                }
            )
    return pd.DataFrame(rows)
