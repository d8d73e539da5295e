"""The scorer's output in the shapes its consumers hand on: columns, a pandas frame, JSON rows.

Converted once at the edge: names of bands and decisions taken by index, reason lists kept as
Arrow list columns (a parquet writer takes them as they are).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from quantumfinance.scoring.model import ScoringModel
from quantumfinance.scoring.score import Scored

OUTPUT_COLUMNS = ("pd", "score", "band", "decision", "reason_codes", "positive_factors")


def output_arrays(model: ScoringModel, scored: Scored) -> dict[str, pa.Array]:
    """The model's output columns as Arrow arrays, in OUTPUT_COLUMNS order."""
    bands = pa.array(model.policy.bands, pa.string())
    decisions = pa.array(model.policy.decisions, pa.string())
    index = pa.array(scored.band)
    return {
        "pd": pa.array(scored.pd, pa.float64()),
        "score": pa.array(scored.score, pa.int64()),
        "band": bands.take(index),
        "decision": decisions.take(index),
        "reason_codes": scored.reason_codes,
        "positive_factors": scored.positive_factors,
    }


def output_table(model: ScoringModel, scored: Scored) -> pa.Table:
    return pa.table(output_arrays(model, scored))


def output_rows(model: ScoringModel, scored: Scored) -> list[dict[str, Any]]:
    """One plain dict per applicant (what a JSON response lists)."""
    return output_table(model, scored).to_pylist()


def decisions(model: ScoringModel, scored: Scored) -> np.ndarray:
    """The decision name of each applicant."""
    return np.array(model.policy.decisions, dtype=object)[scored.band]
