"""The inference node: what the logged model runs on every ``predict`` (the scoring runtime).

Thin on purpose: the applicants' frame is converted to columns once, the runtime checks and
scores them, and its output becomes the frame MLflow returns.
"""

from __future__ import annotations

import pandas as pd

from quantumfinance.columns import frame_columns
from quantumfinance.scoring import ScoringModel, check, score
from quantumfinance.scoring.output import output_table


def score_applicants(scoring_model: ScoringModel, applicants: pd.DataFrame) -> pd.DataFrame:
    """Check applicants against the model's contract and score them: PD, score, band,
    decision, reason codes and positive factors, one row per applicant in order."""
    checked = check(scoring_model, frame_columns(applicants, scoring_model.feature_names))
    table = output_table(scoring_model, score(scoring_model, checked))
    return table.to_pandas(types_mapper=_arrow_lists)


def _arrow_lists(arrow_type):
    """Reason lists stay Arrow-backed in the frame (no Python object per applicant)."""
    import pyarrow as pa  # noqa: PLC0415

    if pa.types.is_list(arrow_type):
        return pd.ArrowDtype(arrow_type)
    if pa.types.is_string(arrow_type):
        return pd.StringDtype("pyarrow", na_value=float("nan"))
    return None
