"""The scorer's output in the shapes its consumers hand on: columns, a pandas frame, JSON rows.

Converted once at the edge: names of bands and decisions taken by index, reason lists kept as
Arrow list columns (a parquet writer takes them as they are).
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from quantumfinance.scoring.model import ScoringModel
from quantumfinance.scoring.score import Ranked, Scored

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
    return scored.rows()


def _json_text(texts: list[str]) -> pa.Array:
    return pa.array([json.dumps(t, ensure_ascii=False) for t in texts], pa.string())


def _json_lists(ranked: Ranked, prefixes: pa.Array) -> pa.Array:
    """Each applicant's reason list as JSON text: items' `{"code":..,"text":..,"points":` are
    pre-rendered per slot, their points formatted by Arrow (shortest round-trip digits)."""
    points = pc.cast(pa.array(ranked.points, pa.float64()), pa.string())
    rendered = pc.binary_join_element_wise(prefixes.take(ranked.slots), points, "}", "")
    joined = pc.binary_join(
        pa.ListArray.from_arrays(pa.array(ranked.offsets, pa.int32()), rendered), ","
    )
    return pc.binary_join_element_wise("[", joined, "]", "")


def output_json(model: ScoringModel, scored: Scored) -> pa.Array:
    """One JSON object per applicant (the API's results), built by Arrow's string kernels from
    pre-rendered pieces: no Python object per applicant or per reason."""
    cache = model.layout
    if "json" not in cache:
        cache["json"] = {
            kind: pa.array(
                [
                    f'{{"code":{json.dumps(f.code)},"text":{json.dumps(t, ensure_ascii=False)},'
                    '"points":'
                    for f in model.features
                    for t in getattr(f, kind)
                ],
                pa.string(),
            )
            for kind in ("adverse", "favourable")
        } | {
            "band": _json_text(list(model.policy.bands)),
            "decision": _json_text(list(model.policy.decisions)),
        }
    pieces = cache["json"]
    index = pa.array(scored.band)
    return pc.binary_join_element_wise(
        '{"pd":',
        pc.cast(pa.array(scored.pd), pa.string()),
        ',"score":',
        pc.cast(pa.array(scored.score), pa.string()),
        ',"band":',
        pieces["band"].take(index),
        ',"decision":',
        pieces["decision"].take(index),
        ',"reason_codes":',
        _json_lists(scored.reasons, pieces["adverse"]),
        ',"positive_factors":',
        _json_lists(scored.factors, pieces["favourable"]),
        "}",
        "",
    )
