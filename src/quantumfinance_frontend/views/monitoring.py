"""Monitoring: the latest monitoring run per model version, as the API reports it.

Status at a glance, PSI/CSI bars with the thresholds drawn, the score distributions of the
development sample and the book overlaid, and the back-test table.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from quantumfinance_frontend.ui import client, friendly_errors, sidebar_status

sidebar_status()  # each page draws it: see app.py
st.title("Monitoring")

STATUS_COLOURS = alt.Scale(
    domain=["stable", "monitor", "shift"], range=["#2e7d32", "#f9a825", "#c62828"]
)


def stability_chart(figures: pd.DataFrame) -> alt.Chart:
    """PSI/CSI per figure coloured by status, the monitor and shift thresholds as rules."""
    shown = figures[figures["kind"].isin(["psi", "csi"])]
    bars = (
        alt.Chart(shown)
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title="PSI / CSI against the development sample"),
            y=alt.Y("figure:N", sort="-x", title=None),
            color=alt.Color("status:N", scale=STATUS_COLOURS),
            tooltip=["figure", "kind", alt.Tooltip("value:Q", format=".3f"), "status"],
        )
    )
    limits = pd.DataFrame(
        {"threshold": ["monitor", "shift"], "value": [shown["monitor"].max(), shown["shift"].max()]}
    )
    rules = (
        alt.Chart(limits)
        .mark_rule(strokeDash=[4, 4])
        .encode(x="value:Q", color=alt.value("grey"), tooltip=["threshold", "value"])
    )
    return bars + rules


def score_chart(distribution: dict[str, dict[str, int]]) -> alt.Chart:
    """Share of applicants per score: development sample and book overlaid."""
    frames = []
    for population, counts in distribution.items():
        series = pd.Series(counts, dtype="float64").rename(index=int).sort_index()
        frames.append(
            pd.DataFrame(
                {"score": series.index, "share": series / series.sum(), "population": population}
            )
        )
    return (
        alt.Chart(pd.concat(frames, ignore_index=True))
        .mark_area(opacity=0.45, interpolate="step")
        .encode(x="score:Q", y=alt.Y("share:Q", stack=None), color="population:N")
    )


def show_run(run: dict[str, Any]) -> None:
    """One model version's latest monitoring run."""
    figures = pd.DataFrame(run["figures"])
    rated = figures[figures["status"].isin(STATUS_COLOURS.domain)]
    columns = st.columns(4)
    columns[0].metric("Status", run["status"])
    columns[1].metric("Applicants", f"{run['rows']:,}")
    columns[2].metric("Figures flagged", len(run.get("flagged") or {}))
    columns[3].metric("Figures checked", len(rated))
    if run.get("flagged"):
        st.warning(
            "Flagged: " + ", ".join(f"{name} ({level})" for name, level in run["flagged"].items())
        )
    st.subheader("Stability")
    st.altair_chart(stability_chart(figures), use_container_width=True)
    st.subheader("Score distribution")
    st.altair_chart(score_chart(run["score_distribution"]), use_container_width=True)
    st.subheader("Back-test")
    if run.get("backtest"):
        st.dataframe(pd.DataFrame(run["backtest"]), hide_index=True)
    else:
        st.info("No outcomes were given to this run (monitoring.outcomes.path): no back-test.")
    st.caption(f"Book `{run['book']}` · monitoring run `{run['run_id']}`")


with friendly_errors():
    answer = client().monitoring()
    runs = answer.get("runs") or []
    if not runs:
        st.info(
            f"No monitoring run of `{answer.get('model_name')}` yet. Score a book and monitor it: "
            "`kedro run --pipelines batch_scoring`, then `kedro run --pipelines monitoring`."
        )
    else:
        tabs = st.tabs([f"v{run['model_version']} · {run['status']}" for run in runs])
        for tab, run in zip(tabs, runs, strict=True):
            with tab:
                show_run(run)
