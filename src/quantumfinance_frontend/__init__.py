"""QuantumFinance Streamlit demo: scores applicants through the scoring API only."""
