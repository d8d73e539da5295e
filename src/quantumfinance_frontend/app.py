"""QuantumFinance credit-scoring demo: `streamlit run src/quantumfinance_frontend/app.py`."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from quantumfinance_frontend.ui import sidebar_status

PAGES = Path(__file__).parent / "pages"

st.set_page_config(
    page_title="QuantumFinance credit scoring", page_icon=":material/credit_score:", layout="wide"
)

navigation = st.navigation(
    [
        st.Page(
            PAGES / "score_applicant.py",
            title="Score an applicant",
            icon=":material/person_search:",
            default=True,
        ),
        st.Page(PAGES / "batch_scoring.py", title="Batch scoring", icon=":material/table_view:"),
        st.Page(PAGES / "model.py", title="Model", icon=":material/monitoring:"),
    ]
)
# The page reads the model info from session state so one request serves sidebar and page.
st.session_state["model_info"] = sidebar_status()
navigation.run()
