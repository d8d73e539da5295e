"""QuantumFinance credit-scoring demo: `streamlit run src/quantumfinance_frontend/app.py`."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

# Not `pages/`: Streamlit would also auto-register that folder (legacy multipage mode), giving a
# second navigation that bypasses this file when a page URL is opened directly.
PAGES = Path(__file__).parent / "views"

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
        st.Page(PAGES / "monitoring.py", title="Monitoring", icon=":material/query_stats:"),
    ]
)
# Pages draw the sidebar status themselves: Streamlit's AppTest drops sidebar elements written
# here (before a file page runs) on every rerun, and the page needs the model info anyway.
navigation.run()
