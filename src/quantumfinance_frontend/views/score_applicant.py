"""Score one applicant: a form from the applicant contract, the decision and why."""

from __future__ import annotations

from typing import Any

import streamlit as st

from quantumfinance.contract import ApplicantContract, Characteristic
from quantumfinance_frontend.applicant_fields import (
    MISSING_LABEL,
    category_label,
    category_options,
    help_text,
    missing_key,
    number_input_args,
    sections,
)
from quantumfinance_frontend.ui import (
    DECISION_COLOURS,
    band_cutoffs,
    client,
    friendly_errors,
    model_label,
    reason_chart,
    reason_label,
    score_gauge,
    served_contract,
    sidebar_status,
)

COLUMNS_PER_ROW = 3


def field_input(spec: Characteristic) -> Any:
    """One field's widget (keyed by the column name); None means unknown (nullable fields)."""
    if spec.is_categorical:
        options = category_options(spec)
        return st.selectbox(
            spec.title,
            options,
            index=options.index(spec.default_example),
            format_func=lambda value, spec=spec: category_label(spec, value),
            help=help_text(spec),
            key=spec.name,
        )
    value = st.number_input(
        spec.title, help=help_text(spec), key=spec.name, **number_input_args(spec)
    )
    if spec.nullable and st.checkbox(
        f"{spec.title}: {MISSING_LABEL.lower()}",
        key=missing_key(spec.name),
        help=f"Tick when the value is not known: it is sent as missing (`{spec.name}` = null).",
    ):
        return None
    return value


def applicant_form(contract: ApplicantContract) -> tuple[bool, dict[str, Any]]:
    """The model's inputs by section, defaulting to the contract's example applicant."""
    applicant: dict[str, Any] = {}
    grouped = list(sections(contract).items())
    with st.form("applicant"):
        for start in range(0, len(grouped), COLUMNS_PER_ROW):
            row = grouped[start : start + COLUMNS_PER_ROW]
            for column, (section, fields) in zip(st.columns(COLUMNS_PER_ROW), row, strict=False):
                with column:
                    st.subheader(section)
                    for spec in fields:
                        applicant[spec.name] = field_input(spec)
        submitted = st.form_submit_button("Score applicant", type="primary")
    return submitted, applicant


def show_reasons(
    reasons: list[dict[str, Any]],
    contract: ApplicantContract,
    title: str,
    none_text: str,
    positive: bool = False,
) -> None:
    """Ranked reasons (or positive factors): a chart of their points, then their texts."""
    st.subheader(title)
    if not reasons:
        st.info(none_text)
        return
    st.altair_chart(reason_chart(reasons, contract, positive=positive))
    for rank, reason in enumerate(reasons, start=1):
        st.markdown(f"{rank}. **{reason_label(reason, contract)}** — {reason.get('text')}")


def show_decision(
    result: dict[str, Any], model_info: dict[str, Any] | None, contract: ApplicantContract
) -> None:
    """Decision, score against the bands, PD, why (adverse-action reasons for review and
    decline, the strongest positive factors for an approval) and the model version."""
    decision = str(result.get("decision", "?"))
    colour = DECISION_COLOURS.get(decision.lower(), "#1f4e79")
    st.markdown(
        f"<h2 style='color:{colour}; margin-bottom:0'>Decision: {decision.upper()}</h2>",
        unsafe_allow_html=True,
    )
    score, pd_value, band = result.get("score"), result.get("pd"), result.get("band")
    cols = st.columns(3)
    cols[0].metric("Score", f"{score:.0f}" if isinstance(score, int | float) else score)
    cols[1].metric(
        "Probability of default",
        f"{pd_value:.1%}" if pd_value is not None else "?",
        help=f"Probability of the event: {contract.target.label}.",
    )
    cols[2].metric("Band", band)
    if isinstance(score, int | float):
        bands = band_cutoffs(model_info)
        st.altair_chart(score_gauge(score, bands))
        if not bands:
            st.caption("The API does not publish the band cutoffs, so only the score is marked.")
    if decision.lower() == "approve":
        show_reasons(
            result.get("positive_factors") or [],
            contract,
            "Strongest positive factors",
            "The model reports no positive factors for this applicant.",
            positive=True,
        )
    else:
        show_reasons(
            result.get("reason_codes") or [],
            contract,
            "Adverse-action reasons, strongest first",
            "The model returned no adverse-action reasons for this applicant.",
        )
    st.caption(f"Model {model_label(result)} · request id `{result.get('request_id', '?')}`")


model_info = sidebar_status()  # each page draws it: see app.py
st.title("Score an applicant")
with friendly_errors():
    # No model, no contract, no form: the fields are the served model's inputs.
    contract = served_contract(model_info)
    st.caption(
        f"Portfolio: **{contract.portfolio.name}**. Fill in the application; every field is "
        "explained in its tooltip (?)."
    )
    submitted, applicant = applicant_form(contract)
    if submitted:
        st.session_state["last_score"] = None
        st.session_state["last_score"] = client().score(applicant)
    if st.session_state.get("last_score"):
        show_decision(st.session_state["last_score"], model_info, contract)
