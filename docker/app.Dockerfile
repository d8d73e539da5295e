# syntax=docker/dockerfile:1
# The project image (scoring API, Dask scheduler and workers): the package and its runtime
# dependencies exactly as locked in uv.lock (no dev tools).
FROM python:3.11.11-slim-bookworm

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
COPY conf/base ./conf/base
RUN uv sync --frozen --no-dev
COPY docker/pg_uri.py /usr/local/bin/pg-uri
RUN chmod 0755 /usr/local/bin/pg-uri && sed -i '1i #!/usr/bin/env python' /usr/local/bin/pg-uri

RUN useradd --create-home --uid 10001 app && mkdir -p data && chown -R app /app/data
USER app
EXPOSE 8000
CMD ["python", "-m", "quantumfinance_serving"]
