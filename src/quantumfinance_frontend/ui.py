"""Shared Streamlit pieces: the API client, friendly errors, the sidebar and the charts."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from quantumfinance.contract import ApplicantContract
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
from quantumfinance_frontend.applicant_fields import contract_from_model_info, label
from quantumfinance_frontend.settings import load_settings

logger = logging.getLogger(__name__)

DECISION_COLOURS = {"approve": "#2e7d32", "review": "#f9a825", "decline": "#c62828"}
# How long the sidebar and the form reuse GET /v1/model: a reload that changes the contract
# reaches the form within this time (a changed contract_digest at once starts a new entry).
MODEL_INFO_TTL_SECONDS = 15
PLOT_TTL_SECONDS = 300
# Charts fill the page's width; their height is the plot's own, axes and legends come on top.
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")


def client() -> ScoringClient:
    """A client for the configured API (secrets, overridden by QF_API_URL / QF_API_KEY)."""
    settings = load_settings()
    return ScoringClient(base_url=settings.api_url, api_key=settings.api_key)


@st.cache_data(ttl=MODEL_INFO_TTL_SECONDS, show_spinner=False, max_entries=32)
def fetch_model_info(api_url: str, api_key: str | None) -> dict[str, Any]:
    """GET /v1/model of one API and key, reused briefly (errors are raised, never cached)."""
    return ScoringClient(base_url=api_url, api_key=api_key).model_info()


@st.cache_data(ttl=PLOT_TTL_SECONDS, show_spinner=False, max_entries=32)
def fetch_plot(api_url: str, api_key: str | None, path: str, model: str) -> bytes:
    """A reporting plot of the served model; ``model`` (its version or URI) keys the cache, so
    a reload to another version fetches that version's plots."""
    return ScoringClient(base_url=api_url, api_key=api_key).get_bytes(path)


def model_info_now() -> dict[str, Any]:
    """GET /v1/model of the configured API (cached for MODEL_INFO_TTL_SECONDS)."""
    settings = load_settings()
    return fetch_model_info(settings.api_url, settings.api_key)


@st.cache_resource(show_spinner=False, max_entries=16)
def _parsed_contract(key: str, _info: dict[str, Any]) -> ApplicantContract:
    """The contract of a model info, validated once per contract (`key`: its digest)."""
    return contract_from_model_info(_info)


def served_contract(info: dict[str, Any] | None = None) -> ApplicantContract:
    """The applicant contract of the served model: the form, template and checks come from it.

    ``info`` is the page's GET /v1/model answer; without one it is fetched (raising the API's
    error, e.g. unavailable or not ready, for the page to explain).
    """
    if info is None:
        info = model_info_now()
    contract = info.get("contract")
    key = info.get("contract_digest") or json.dumps(contract, sort_keys=True, default=str)
    return _parsed_contract(key, info)


def _contract_or_none() -> ApplicantContract | None:
    """The served contract when it can be had (for labels in messages), else None."""
    try:
        return served_contract()
    except Exception:  # noqa: BLE001 - labels fall back to readable column names
        return None


def operator_details(*lines: str | None) -> None:
    """What IT support needs (URLs, status codes, settings), folded away from the officer."""
    shown = [line for line in lines if line]
    if shown:
        with st.expander("Details for IT support"):
            for line in shown:
                st.caption(line)


def show_error(error: Exception) -> None:
    """Explain a failure in words a loan officer can act on; never a stack trace."""
    _explain(error)
    if isinstance(error, ApiError):
        operator_details(error.operator_detail)


def _explain(error: Exception) -> None:
    """The officer's message for one kind of failure."""
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
        contract = _contract_or_none()
        fields = "\n".join(
            f"- **{label(contract, e.field)}** (`{e.field}`"
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


SIDEBAR_STATES = {  # failure -> (kind, short status for the officer)
    Unauthorized: ("error", "Access denied: this screen's key was refused"),
    NotReady: ("warning", "Service up, no model loaded yet"),
    ApiUnavailable: ("error", "Scoring service unavailable"),
}


def sidebar_status() -> dict[str, Any] | None:
    """Service status and the served model version in the sidebar; the model info if known."""
    api = client()
    with st.sidebar:
        st.markdown("### Scoring service")
        try:
            api.health()  # not cached: a stopped service shows at once
            info = fetch_model_info(api.base_url, api.api_key)
        except ApiError as error:
            kind, status = next(
                (v for k, v in SIDEBAR_STATES.items() if isinstance(error, k)),
                ("warning", "Model information unavailable"),
            )
            getattr(st, kind)(status, icon=":material/warning:")
            operator_details(f"API: {api.base_url}", error.operator_detail)
            return None
        st.success("Ready to score", icon=":material/check_circle:")
        st.markdown(f"Model version  \n**{model_label(info)}**")
        portfolio = (info.get("contract") or {}).get("portfolio") or {}
        if portfolio.get("name"):
            st.caption(f"Portfolio: {portfolio['name']}")
        operator_details(f"API: {api.base_url}")
        return info


def model_label(info: dict[str, Any]) -> str:
    """`credit-score v3 (champion)` from /v1/model or the `model` part of a score response."""
    model = info["model"] if isinstance(info.get("model"), dict) else info
    name = model.get("name") or "model"
    version = model.get("version")
    alias = model.get("alias")
    shown = f"{name} v{version}" if version else f"{name} (loaded from a path)"
    return shown + (f" @{alias}" if alias else "")


def band_cutoffs(info: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Score bands [{band, low, high, decision}] from worst to best, if the API publishes them.

    Accepts the model policy's shape ({name, min_score} listed best to worst, decisions by band)
    either at the top level of /v1/model or under `policy`.
    """
    info = info or {}
    policy = info.get("policy") if isinstance(info.get("policy"), dict) else info
    decisions = policy.get("decisions") or {}
    bands = [b for b in policy.get("bands") or [] if isinstance(b, dict)]
    rows = sorted(
        (
            {
                "band": str(b.get("name", b.get("band", "?"))),
                "low": float(b.get("min_score", b.get("low", 0))),
                "decision": str(decisions.get(b.get("name", b.get("band")), "")),
            }
            for b in bands
        ),
        key=lambda r: r["low"],
    )
    for lower, upper in zip(rows, rows[1:], strict=False):
        lower["high"] = upper["low"]
    if rows:
        rows[-1]["high"] = None
    return rows


def score_gauge(score: float, bands: list[dict[str, Any]]) -> alt.Chart:
    """A horizontal bar of the score bands with a marker at the applicant's score.

    Ticks only at the band cutoffs (inside the drawn range, so never clipped at the edges);
    bands carry their name, the legend their decision, so labels fit at narrow widths.
    """
    cutoffs = [b["low"] for b in bands[1:]]  # the worst band's floor (often 0) is not a cutoff
    lowest = min([*cutoffs, score]) - 40
    highest = max([*cutoffs, score]) + 40
    segments = pd.DataFrame(
        [
            {
                "band": b["band"],
                "label": f"{b['band']} · {b['decision']}" if b["decision"] else b["band"],
                "decision": b["decision"],
                "low": max(b["low"], lowest),
                "high": highest if b["high"] is None else min(b["high"], highest),
            }
            for b in bands
        ]
        or [{"band": "score", "label": "", "decision": "", "low": lowest, "high": highest}]
    )
    segments["middle"] = (segments["low"] + segments["high"]) / 2
    unknown = bool((segments["decision"] == "").any())  # grey, and in the legend, only if used
    axis = alt.Axis(values=cutoffs or None, labelFontSize=12, titleFontSize=12, grid=False)
    x = alt.X(
        "low:Q",
        title="Score (higher is better; ticks at the band cutoffs)",
        scale=alt.Scale(domain=[lowest, highest], nice=False),
        axis=axis,
    )
    legend = alt.Legend(title="Decision", orient="bottom", direction="horizontal")
    bars = (
        alt.Chart(segments)
        .mark_bar(height=40, stroke="white", strokeWidth=2)
        .encode(
            x=x,
            x2="high:Q",
            color=alt.Color("decision:N", scale=_decision_scale(unknown), legend=legend),
            tooltip=["band", "label", "low", "high"],
        )
    )
    names = (
        alt.Chart(segments)
        .mark_text(color="white", fontWeight="bold", fontSize=13)
        .encode(x="middle:Q", text="band:N")
    )
    marker = pd.DataFrame({"low": [score], "label": [f"▼ {score:.0f}"]})
    tick = (
        alt.Chart(marker)
        .mark_tick(color="black", thickness=5, size=56, orient="vertical")
        .encode(x="low:Q")
    )
    text = (
        alt.Chart(marker)
        .mark_text(dy=-36, fontSize=18, fontWeight="bold")
        .encode(x="low:Q", text="label:N")
    )
    padding = {"top": 30, "left": 24, "right": 24, "bottom": 4}
    # fit-x, not Streamlit's default "fit": the height is the bars' own, and the axis and legend
    # are drawn below it instead of squeezed into it (which clipped the tick labels).
    return (bars + names + tick + text).properties(height=70, padding=padding, autosize=FIT_WIDTH)


def _decision_scale(with_unknown: bool = True) -> alt.Scale:
    """Approve green, review amber, decline red (a band without a decision grey)."""
    extra = [("", "#90a4ae")] if with_unknown else []
    pairs = [*DECISION_COLOURS.items(), *extra]
    return alt.Scale(domain=[d for d, _ in pairs], range=[c for _, c in pairs])


def reason_chart(
    reasons: list[dict[str, Any]],
    contract: ApplicantContract | None = None,
    positive: bool = False,
) -> alt.Chart:
    """Reasons ranked (first = strongest) by the score points they cost (or, for positive
    factors, gained), on a labelled axis with each bar's value; ranks only for an older model
    whose reasons carry no points."""
    with_points = all(isinstance(r.get("points"), int | float) for r in reasons)
    frame = pd.DataFrame(
        [
            {
                "rank": i + 1,
                "reason": f"{i + 1}. {reason_label(r, contract)}",
                "code": str(r.get("code")),
                "text": str(r.get("text") or ""),
                "points": abs(float(r["points"])) if with_points else float(len(reasons) - i),
            }
            for i, r in enumerate(reasons)
        ]
    )
    if with_points:
        title = "Score points gained" if positive else "Score points lost against the best group"
        axis = alt.Axis(title=title, labelFontSize=12, titleFontSize=12, tickMinStep=1)
    else:  # older models: the order is all there is
        axis = alt.Axis(title="Rank of influence (longer = stronger)", labels=False, ticks=False)
    base = alt.Chart(frame).encode(
        x=alt.X("points:Q", axis=axis),
        y=alt.Y("reason:N", sort=alt.SortField("rank"), title=None, axis=alt.Axis(labelLimit=360)),
        tooltip=["rank", "code", "text", "points"],
    )
    bars = base.mark_bar(color="#2e7d32" if positive else "#c62828")
    chart = bars
    if with_points:
        chart = bars + base.mark_text(align="left", dx=4, fontSize=12).encode(
            text=alt.Text("points:Q", format=".0f")
        )
    return chart.properties(height=max(60, 34 * len(frame)), autosize=FIT_WIDTH)


def reason_label(reason: dict[str, Any], contract: ApplicantContract | None) -> str:
    """Short chart label: the field's plain label when the code names a field, else the text."""
    code = str(reason.get("code", ""))
    if contract is not None and code.lower() in contract.by_name:
        return label(contract, code.lower())
    return str(reason.get("text") or code)


def score_histogram(scores: pd.DataFrame) -> alt.Chart:
    """Distribution of the batch's scores, coloured by decision."""
    return (
        alt.Chart(scores)
        .mark_bar()
        .encode(
            x=alt.X("score:Q", bin=alt.Bin(maxbins=30), title="Score"),
            y=alt.Y("count():Q", title="Applicants"),
            color=alt.Color("decision:N", scale=_decision_scale(with_unknown=False)),
        )
        .properties(height=260)
    )
