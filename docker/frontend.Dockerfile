# syntax=docker/dockerfile:1
# Streamlit front end: only the locked dependency group `frontend` (no model, MLflow or DVC
# stack); its sources and the contract module come from src/ on PYTHONPATH.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app/src KEDRO_DISABLE_TELEMETRY=true DO_NOT_TRACK=1
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /app

COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-install-project --only-group frontend
COPY src/quantumfinance_frontend ./src/quantumfinance_frontend
COPY src/quantumfinance/__init__.py src/quantumfinance/contract.py ./src/quantumfinance/

RUN useradd --create-home --uid 10001 app
USER app
EXPOSE 8501
CMD ["streamlit", "run", "src/quantumfinance_frontend/app.py", "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true", "--browser.gatherUsageStats=false"]
