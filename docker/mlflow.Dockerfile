# syntax=docker/dockerfile:1
# MLflow tracking server (PostgreSQL backend, artifacts proxied to MinIO): only the locked
# dependency group `tracking-server` (mlflow, psycopg, boto3), not the project.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH \
    DO_NOT_TRACK=1
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /app

COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-install-project --only-group tracking-server
COPY docker/pg_uri.py /usr/local/bin/pg-uri
RUN chmod 0755 /usr/local/bin/pg-uri && sed -i '1i #!/usr/bin/env python' /usr/local/bin/pg-uri

RUN useradd --create-home --uid 10001 app
USER app
EXPOSE 5000
CMD ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000"]
