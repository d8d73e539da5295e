"""Score one applicant: a form from the applicant contract, the decision and why."""

from __future__ import annotations

from typing import Any

import streamlit as st

from quantumfinance_frontend.applicant_fields import (
    SECTIONS,
    characteristic,
    help_text,
    label,
    typical_applicant,
)
from quantumfinance_frontend.ui import (
    DECISION_COLOURS,
    band_cutoffs,
    client,
    friendly_errors,
    model_label,
    reason_chart,
    score_gauge,
    sidebar_status,
)


def applicant_form() -> tuple[bool, dict[str, Any]]:
    """The 20 fields in three sections, defaulting to the typical real applicant."""
    applicant: dict[str, Any] = {}
    defaults = typical_applicant()
    with st.form("applicant"):
        for column, (section, names) in zip(st.columns(3), SECTIONS.items(), strict=True):
            with column:
                st.subheader(section)
                for name in names:
                    spec = characteristic(name)
                    if spec.is_categorical:
                        applicant[name] = st.selectbox(
                            label(name),
                            spec.categories,
                            index=spec.categories.index(defaults[name]),
                            help=help_text(spec),
                            key=name,
                        )
                    else:
                        applicant[name] = st.number_input(
                            label(name),
                            min_value=spec.minimum,
                            max_value=spec.maximum,
                            value=defaults[name],
                            step=1,
                            help=help_text(spec),
                            key=name,
                        )
        submitted = st.form_submit_button("Score applicant", type="primary")
    return submitted, applicant


def show_decision(result: dict[str, Any], model_info: dict[str, Any] | None) -> None:
    """Decision, score against the bands, PD, ranked reason codes and the model version."""
    decision = str(result.get("decision", "?"))
    colour = DECISION_COLOURS.get(decision.lower(), "#1f4e79")
    st.markdown(
        f"<h2 style='color:{colour}; margin-bottom:0'>Decision: {decision.upper()}</h2>",
        unsafe_allow_html=True,
    )
    score, pd_value, band = result.get("score"), result.get("pd"), result.get("band")
    cols = st.columns(3)
    cols[0].metric("Score", f"{score:.0f}" if isinstance(score, int | float) else score)
    cols[1].metric("Probability of default", f"{pd_value:.1%}" if pd_value is not None else "?")
    cols[2].metric("Band", band)
    if isinstance(score, int | float):
        bands = band_cutoffs(model_info)
        st.altair_chart(score_gauge(score, bands))
        if not bands:
            st.caption("The API does not publish the band cutoffs, so only the score is marked.")
    reasons = result.get("reason_codes") or []
    st.subheader("Why: reason codes, strongest first")
    if reasons:
        st.altair_chart(reason_chart(reasons))
        for rank, reason in enumerate(reasons, start=1):
            st.markdown(f"{rank}. **{reason.get('code')}** — {reason.get('text')}")
    else:
        st.info("The model returned no adverse reason codes for this applicant.")
    st.caption(f"Model {model_label(result)} · request id `{result.get('request_id', '?')}`")


model_info = sidebar_status()  # each page draws it: see app.py
st.title("Score an applicant")
st.caption("Fill in the application; every field is explained in its tooltip (?).")
submitted, applicant = applicant_form()
with friendly_errors():
    if submitted:
        st.session_state["last_score"] = None
        st.session_state["last_score"] = client().score(applicant)
    if st.session_state.get("last_score"):
        show_decision(st.session_state["last_score"], model_info)
