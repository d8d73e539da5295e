# syntax=docker/dockerfile:1
# Scoring API (`python -m quantumfinance_serving`), dependencies exactly as locked in uv.lock.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH \
    KEDRO_DISABLE_TELEMETRY=true DO_NOT_TRACK=1
# uv at the version uv.lock itself pins (PyPI only: no other registry needed).
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /app

# Dependencies first (cached until the lock changes), then the project itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY src ./src
COPY conf ./conf
RUN uv sync --frozen --no-dev

RUN useradd --create-home --uid 10001 app && mkdir -p data && chown -R app /app/data
USER app
EXPOSE 8000
CMD ["python", "-m", "quantumfinance_serving"]
