"""The served model: version, training metrics and the reporting plots the API exposes."""

from __future__ import annotations

from typing import Any

import streamlit as st

from quantumfinance_frontend.api_client import ContractUnavailable
from quantumfinance_frontend.applicant_fields import allowed_values
from quantumfinance_frontend.ui import (
    client,
    friendly_errors,
    model_label,
    served_contract,
    sidebar_status,
)

sidebar_status()  # each page draws it: see app.py
st.title("Model")


def show_metrics(metrics: dict[str, Any]) -> None:
    """Training/validation metrics as tiles, four per row."""
    items = sorted(metrics.items())
    for start in range(0, len(items), 4):
        for col, (name, value) in zip(st.columns(4), items[start : start + 4], strict=False):
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            col.metric(name.replace("_", " "), shown)


def show_plots(api: Any, plots: dict[str, str], per_row: int = 2) -> None:
    """Every plot the API lists (title -> API path), fetched with the key, ``per_row`` a row."""
    items = list(plots.items())
    for start in range(0, len(items), per_row):
        row = items[start : start + per_row]
        for column, (title, path) in zip(st.columns(per_row), row, strict=False):
            column.image(api.get_bytes(path), caption=title)


def show_contract(info: dict[str, Any]) -> None:
    """The model's applicant contract: what it expects, as the form and the API apply it."""
    st.subheader("Applicant contract")
    try:
        contract = served_contract(info)
    except ContractUnavailable as error:
        st.info(str(error))
        return
    st.markdown(f"**{contract.portfolio.name}**: {contract.portfolio.description}")
    rows = [
        {
            "column": c.name,
            "label": c.title,
            "type": c.type,
            "allowed": allowed_values(c),
            "may be unknown": c.nullable,
            "section": c.section,
        }
        for c in contract.features
    ]
    with st.expander(f"{len(rows)} model inputs · target: {contract.target.label}"):
        st.dataframe(rows, hide_index=True)
        if info.get("contract_digest"):
            st.caption(f"Contract digest `{info['contract_digest']}`")


with friendly_errors():
    api = client()
    info = api.model_info()
    st.subheader(model_label(info))
    facts = ("version", "alias", "run_id", "uri", "loaded_at")
    st.table(
        {
            "about the model": [fact for fact in facts if info.get(fact)],
            "value": [str(info[fact]) for fact in facts if info.get(fact)],
        },
        hide_index=True,
    )
    if info.get("last_reload_error"):
        st.warning(
            f"The latest reload failed; this version keeps serving: {info['last_reload_error']}"
        )
    metrics = info.get("metrics") or info.get("training_metrics") or {}
    st.subheader("Metrics")
    if metrics:
        show_metrics(metrics)
    else:
        st.info("The API does not report metrics for this model.")
    show_contract(info)
    st.subheader("Reporting plots")
    plots = info.get("plots") or {}
    if plots:
        show_plots(api, plots)
    else:
        st.info(
            "The API lists no reporting plots (ROC, KS, calibration, score distribution) for "
            f"this model: its run (`{info.get('run_id') or '?'}`) has no `reporting/*.png` "
            "artifacts, or it is served from a local directory. `make run` logs them in a "
            "reporting run linked to the model's run (`QF_MODEL_RUN_ID=<run id> kedro run "
            "--pipelines=reporting`)."
        )
