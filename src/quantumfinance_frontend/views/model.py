"""The served model: version, training metrics and the reporting plots the API exposes."""

from __future__ import annotations

from typing import Any

import streamlit as st

from quantumfinance_frontend.api_client import ContractUnavailable
from quantumfinance_frontend.applicant_fields import allowed_values
from quantumfinance_frontend.ui import (
    client,
    fetch_plot,
    friendly_errors,
    model_info_now,
    model_label,
    operator_details,
    served_contract,
    sidebar_status,
)

sidebar_status()  # each page draws it: see app.py
st.title("Model")

# The summary's figures: (label, metric name); the CV spread is `<name>_std` when reported.
HEADLINE = (("AUC", "auc"), ("KS", "ks"), ("Gini", "gini"))
TRAINED_AT_KEYS = ("trained_at", "created_at", "registered_at")


def headline(metrics: dict[str, Any], name: str) -> tuple[str, str | None]:
    """Test figure (cross-validated when no test figure) and the CV mean ± spread under it."""
    test, cv, spread = (metrics.get(k) for k in (f"test_{name}", f"cv_{name}", f"cv_{name}_std"))
    value = f"{test:.3f}" if test is not None else (f"{cv:.3f}" if cv is not None else "–")
    if cv is None:
        return value, None
    return value, f"CV {cv:.3f}" + (f" ± {spread:.3f}" if spread is not None else "")


def show_summary(info: dict[str, Any]) -> None:
    """Version, when and on what it was trained, the headline figures with their CV spread."""
    portfolio = ((info.get("contract") or {}).get("portfolio") or {}).get("name")
    trained_at = next((info[k] for k in TRAINED_AT_KEYS if info.get(k)), None)
    facts = [
        f"Version **{info.get('version') or 'loaded from a path'}**"
        + (f" ({info['alias']})" if info.get("alias") else ""),
        f"trained on **{portfolio}**" if portfolio else None,
        f"trained {trained_at}" if trained_at else None,
        f"serving since {str(info['loaded_at'])[:16].replace('T', ' ')}"
        if info.get("loaded_at")
        else None,
    ]
    st.markdown(" · ".join(f for f in facts if f))
    metrics = info.get("metrics") or {}
    if not metrics:
        st.info("The scoring service reports no performance figures for this model.")
        return
    for column, (label, name) in zip(st.columns(len(HEADLINE)), HEADLINE, strict=True):
        value, spread = headline(metrics, name)
        column.metric(f"{label} (test)", value)
        if spread:
            column.caption(spread)


def show_metric_table(metrics: dict[str, Any]) -> None:
    """Every figure the training run logged, folded away (name, value)."""
    with st.expander(f"All {len(metrics)} training figures"):
        rows = [{"figure": name, "value": value} for name, value in sorted(metrics.items())]
        st.dataframe(
            rows,
            hide_index=True,
            column_config={"value": st.column_config.NumberColumn(format="%.4f")},
        )


def show_plots(api: Any, info: dict[str, Any], per_row: int = 2) -> None:
    """Every plot the API lists (title -> API path of the PNG), ``per_row`` a row, cached."""
    items = list(info["plots"].items())
    model = f"{info.get('version')}:{info.get('uri')}:{info.get('loaded_at')}"
    for start in range(0, len(items), per_row):
        row = items[start : start + per_row]
        for column, (title, path) in zip(st.columns(per_row), row, strict=False):
            column.image(fetch_plot(api.base_url, api.api_key, path, model), caption=title)


def show_contract(info: dict[str, Any]) -> None:
    """The model's applicant contract: what it expects, as the form and the API apply it."""
    try:
        contract = served_contract(info)
    except ContractUnavailable as error:
        st.info(str(error))
        return
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
    with st.expander(
        f"Applicant contract: {len(rows)} model inputs · target: {contract.target.label}"
    ):
        st.markdown(f"**{contract.portfolio.name}**: {contract.portfolio.description}")
        st.dataframe(rows, hide_index=True)
        if info.get("contract_digest"):
            st.caption(f"Contract digest `{info['contract_digest']}`")


with friendly_errors():
    api = client()
    info = model_info_now()
    st.subheader(model_label(info))
    if info.get("last_reload_error"):
        st.warning("A newer model could not be loaded; this version keeps serving.")
        operator_details(f"Last reload error: {info['last_reload_error']}")
    show_summary(info)
    plots = info.get("plots") or {}
    if plots:
        show_plots(api, info)
    else:
        st.info("No performance plots were published for this model.")
        operator_details(
            f"Run `{info.get('run_id') or '?'}` has no linked reporting run with "
            "`reporting/*.png` artifacts, or the model is served from a local directory. "
            "`make run` logs them in a reporting run linked to the model's run "
            "(`QF_MODEL_RUN_ID=<run id> kedro run --pipelines=reporting`)."
        )
    if info.get("metrics"):
        show_metric_table(info["metrics"])
    show_contract(info)
    operator_details(
        *(f"{fact}: {info[fact]}" for fact in ("run_id", "uri", "loaded_at") if info.get(fact))
    )
