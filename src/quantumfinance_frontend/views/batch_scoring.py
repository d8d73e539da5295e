"""Batch scoring: upload a CSV, see which rows are wrong and why, score the rest via the API."""

from __future__ import annotations

import hashlib

import streamlit as st

from quantumfinance_frontend.applicant_fields import (
    check_columns,
    ignored_columns,
    problems_table,
    read_applicants_csv,
    template_csv,
    validate_applicants,
)
from quantumfinance_frontend.batch import (
    DEFAULT_CHUNK_SIZE,
    BatchOutcome,
    score_in_chunks,
    scored_frame,
)
from quantumfinance_frontend.ui import (
    client,
    friendly_errors,
    model_label,
    score_histogram,
    served_contract,
    show_error,
    sidebar_status,
)


def _row_ranges(positions: list[int]) -> str:
    """1-based row numbers as compact ranges, e.g. '3-5, 9'."""
    ranges: list[list[int]] = []
    for row in (p + 1 for p in positions):
        if ranges and row == ranges[-1][1] + 1:
            ranges[-1][1] = row
        else:
            ranges.append([row, row])
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges)


def scored_once(
    content: bytes, contract_digest: str, positions: list[int], payloads: list[dict]
) -> BatchOutcome:
    """Score a file once per upload and contract: reruns (e.g. widget clicks) reuse the outcome."""
    digest = hashlib.sha256(content + contract_digest.encode()).hexdigest()
    cached = st.session_state.get("batch_outcome")
    if cached and cached[0] == digest and cached[1].error is None:
        return cached[1]
    progress = st.progress(0.0, text="Scoring…")
    outcome = score_in_chunks(
        client(),
        positions,
        payloads,
        chunk_size=DEFAULT_CHUNK_SIZE,
        on_progress=lambda done, total: progress.progress(
            done / total, text=f"Scored {done:,} of {total:,} applicants"
        ),
    )
    st.session_state["batch_outcome"] = (digest, outcome)
    return outcome


model_info = sidebar_status()  # each page draws it: see app.py
st.title("Batch scoring")
with friendly_errors():
    # The template and the checks are the served model's contract: none without a model.
    contract = served_contract(model_info)
    st.markdown(
        f"Portfolio: **{contract.portfolio.name}**. Upload a CSV with one applicant per row and "
        f"the columns of the template (the id column `{contract.id.name}` is optional and kept "
        "in the results)."
    )
    nullable = [f"`{c.name}`" for c in contract.features if c.nullable]
    if nullable:
        st.caption(f"An empty cell means unknown; allowed only in {', '.join(nullable)}.")
    st.download_button(
        "Download the CSV template",
        template_csv(contract),
        "applicants_template.csv",
        "text/csv",
        on_click="ignore",
    )
    upload = st.file_uploader("Applicants CSV", type=["csv"], key="applicants_csv")
    if upload is not None:
        try:
            uploaded = read_applicants_csv(upload.getvalue())
        except Exception:  # noqa: BLE001 - any parser failure means "not a readable CSV"
            st.error("**This file could not be read as CSV.** Start from the template.")
            st.stop()
        header_problems = check_columns(uploaded, contract)
        if header_problems:
            st.error(
                "**The file's columns do not match the template:**\n\n- "
                + "\n- ".join(header_problems)
            )
            st.stop()
        ignored = ignored_columns(uploaded, contract)
        if ignored:
            st.caption(
                "Not used for scoring (kept in the results): "
                + ", ".join(f"`{c}`" for c in ignored)
            )
        positions, payloads, problems = validate_applicants(uploaded, contract)
        st.write(f"{len(uploaded)} rows read, {len(payloads)} valid.")
        outcome = None
        if payloads:
            outcome = scored_once(upload.getvalue(), contract.digest, positions, payloads)
            problems += outcome.problems
            if outcome.error is not None:
                show_error(outcome.error)
                st.warning(
                    f"**{len(outcome.unscored)} valid row(s) were not scored** because of the "
                    f"error above (rows {_row_ranges(outcome.unscored)}). Upload them again later."
                )
        if problems:
            rows = sorted({p.row for p in problems})
            st.error(
                f"**{len(rows)} row(s) were not scored** (row 1 is the first line after the "
                "header). Fix these values and upload again:"
            )
            st.dataframe(
                problems_table(sorted(problems, key=lambda p: p.row), contract), hide_index=True
            )
        if outcome and outcome.results:
            scored = scored_frame(uploaded, outcome, contract.id.name)
            st.success(
                f"**{len(scored)} applicant(s) scored** with model {model_label(outcome.model)}."
            )
            counts = scored["decision"].value_counts()
            cols = st.columns(len(counts) or 1)
            for col, (decision, count) in zip(cols, counts.items(), strict=False):
                col.metric(str(decision).capitalize(), int(count))
            st.altair_chart(score_histogram(scored))
            st.dataframe(
                scored,
                hide_index=True,
                column_config={"pd": st.column_config.NumberColumn(format="%.3f")},
            )
            st.download_button(
                "Download the scored CSV",
                scored.to_csv(index=False).encode(),
                "applicants_scored.csv",
                "text/csv",
                type="primary",
                on_click="ignore",
            )
