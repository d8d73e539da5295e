"""Shared Streamlit pieces: the API client, friendly errors, the sidebar and the charts."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from quantumfinance_frontend.api_client import (
    ApiError,
    ApiUnavailable,
    NotReady,
    PayloadTooLarge,
    RateLimited,
    ScoringClient,
    Unauthorized,
    ValidationFailed,
)
from quantumfinance_frontend.applicant_fields import label
from quantumfinance_frontend.settings import load_settings

logger = logging.getLogger(__name__)

DECISION_COLOURS = {"approve": "#2e7d32", "review": "#f9a825", "decline": "#c62828"}
BAND_PALETTE = ["#2e7d32", "#7cb342", "#c0ca33", "#fdd835", "#fb8c00", "#e53935", "#b71c1c"]


def client() -> ScoringClient:
    """A client for the configured API (secrets, overridden by QF_API_URL / QF_API_KEY)."""
    settings = load_settings()
    return ScoringClient(base_url=settings.api_url, api_key=settings.api_key)


def show_error(error: Exception) -> None:
    """Explain a failure in words a loan officer can act on; never a stack trace."""
    if isinstance(error, ApiUnavailable):
        st.error(f"**The scoring service is unavailable.** {error}", icon=":material/cloud_off:")
    elif isinstance(error, Unauthorized):
        st.error(f"**Access denied.** {error}", icon=":material/key_off:")
    elif isinstance(error, RateLimited):
        wait = f"{error.retry_after:.0f} seconds" if error.retry_after is not None else "a moment"
        st.warning(
            f"**Too many requests.** Please wait {wait} and try again.",
            icon=":material/hourglass_top:",
        )
    elif isinstance(error, ValidationFailed):
        fields = "\n".join(
            f"- **{label(e.field)}** (`{e.field}`"
            + (f", row {e.row + 1}" if e.row is not None else "")
            + f"): {e.message}"
            for e in error.errors
        )
        st.error(f"**The API rejected some values.**\n\n{fields}", icon=":material/edit_note:")
    elif isinstance(error, NotReady):
        st.warning(f"**The model is not ready.** {error}", icon=":material/pending:")
    elif isinstance(error, PayloadTooLarge):
        st.error(f"**Request too large.** {error}", icon=":material/inventory_2:")
    elif isinstance(error, ApiError):
        st.error(f"**The scoring service failed.** {error}", icon=":material/error:")
    else:
        # Unexpected: the details go to the server log, the page gets a plain sentence.
        logger.exception("unexpected error in the front end", exc_info=error)
        st.error("**Something went wrong.** The details were written to the server log.")


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Run a page body; any error becomes a friendly message (Streamlit's stop/rerun pass)."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - the page must never show a traceback
        show_error(error)


def sidebar_status() -> dict[str, Any] | None:
    """API health and the served model version in the sidebar; returns the model info if known."""
    api = client()
    with st.sidebar:
        st.markdown("### Scoring service")
        st.caption(api.base_url)
        try:
            api.health()
        except ApiError as error:
            st.error("API down", icon=":material/error:")
            st.caption(str(error))
            return None
        try:
            info = api.model_info()
        except ApiError as error:
            st.warning("API up, model not available", icon=":material/warning:")
            st.caption(str(error))
            return None
        st.success("API healthy", icon=":material/check_circle:")
        st.metric("Model version", model_label(info))
        return info


def model_label(info: dict[str, Any]) -> str:
    """`credit-score v3 (champion)` from whatever /v1/model or a score response holds."""
    model = info.get("model", info) if isinstance(info.get("model"), dict) else info
    name = model.get("name", "model")
    version = model.get("version", "?")
    alias = model.get("alias")
    return f"{name} v{version}" + (f" ({alias})" if alias else "")


def band_cutoffs(info: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Score bands as [{band, low, high}] from the model info, ordered by score; [] if not served."""
    bands = (info or {}).get("bands") or []
    rows = []
    for band in bands:
        if not isinstance(band, dict):
            continue
        low = band.get("min_score", band.get("low", band.get("lower")))
        high = band.get("max_score", band.get("high", band.get("upper")))
        rows.append(
            {"band": str(band.get("band", band.get("name", "?"))), "low": low, "high": high}
        )
    return sorted(rows, key=lambda r: (r["low"] is None, r["low"] or 0))


def score_gauge(score: float, bands: list[dict[str, Any]]) -> alt.Chart:
    """A horizontal bar of the score bands with a marker at the applicant's score."""
    lowest = min([b["low"] for b in bands if b["low"] is not None] + [score - 50])
    highest = max([b["high"] for b in bands if b["high"] is not None] + [score + 50])
    segments = pd.DataFrame(
        [
            {
                "band": b["band"],
                "low": b["low"] if b["low"] is not None else lowest,
                "high": b["high"] if b["high"] is not None else highest,
            }
            for b in bands
        ]
        or [{"band": "score", "low": lowest, "high": highest}]
    )
    x = alt.X("low:Q", title="Score", scale=alt.Scale(domain=[lowest, highest], nice=False))
    bars = (
        alt.Chart(segments)
        .mark_bar(height=38, opacity=0.8)
        .encode(
            x=x,
            x2="high:Q",
            color=alt.Color(
                "band:N",
                sort=list(segments["band"]),
                scale=alt.Scale(range=BAND_PALETTE[::-1][-len(segments) :]),
                legend=alt.Legend(title="Band", orient="bottom"),
            ),
            tooltip=["band", "low", "high"],
        )
    )
    marker = pd.DataFrame({"low": [score], "label": [f"{score:.0f}"]})
    rule = alt.Chart(marker).mark_rule(color="black", strokeWidth=4).encode(x="low:Q")
    text = (
        alt.Chart(marker)
        .mark_text(dy=-28, fontSize=16, fontWeight="bold")
        .encode(x="low:Q", text="label:N")
    )
    return (bars + rule + text).properties(height=90)


def reason_chart(reasons: list[dict[str, Any]]) -> alt.Chart:
    """Reason codes ranked (first = strongest reason), with their texts as labels."""
    frame = pd.DataFrame(
        [
            {
                "rank": i + 1,
                "reason": f"{i + 1}. {r.get('text', r.get('code'))}",
                "code": str(r.get("code")),
                "weight": len(reasons) - i,
            }
            for i, r in enumerate(reasons)
        ]
    )
    return (
        alt.Chart(frame)
        .mark_bar(color="#c62828")
        .encode(
            x=alt.X("weight:Q", title="Rank of influence (longer = stronger)", axis=None),
            y=alt.Y(
                "reason:N", sort=alt.SortField("rank"), title=None, axis=alt.Axis(labelLimit=520)
            ),
            tooltip=["rank", "code", "reason"],
        )
        .properties(height=max(60, 34 * len(frame)))
    )


def score_histogram(scores: pd.DataFrame) -> alt.Chart:
    """Distribution of the batch's scores, coloured by decision."""
    return (
        alt.Chart(scores)
        .mark_bar()
        .encode(
            x=alt.X("score:Q", bin=alt.Bin(maxbins=30), title="Score"),
            y=alt.Y("count():Q", title="Applicants"),
            color=alt.Color(
                "decision:N",
                scale=alt.Scale(
                    domain=list(DECISION_COLOURS), range=list(DECISION_COLOURS.values())
                ),
            ),
        )
        .properties(height=260)
    )
