# QuantumFinance — every target installs what it needs (Python >= 3.11 and make are enough).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synced
# `kedro run` sets these itself (src/quantumfinance/settings.py); exported here for the servers.
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR := false

.PHONY: help install run test lint format serve stack-up stack-down repro data-push chaos bench viz jupyter clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "uv>=0.5"

$(STAMP): $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet --compile-bytecode  # .pyc at install: every child process (kedro run, servers) starts fast even under PYTHONDONTWRITEBYTECODE
	@printf 'consent: false\n' > .telemetry
	@touch $(STAMP)

install: $(STAMP)  ## create .venv from uv.lock (bootstraps uv if missing)

run: $(STAMP)  ## full pipeline on the embedded default (ENV=<portfolio> for another portfolio env)
	$(BIN)/python -m scripts.run_all $(if $(ENV),--env $(ENV))

test: $(STAMP)  ## the whole test suite, starting every service it needs
	$(BIN)/python -m pytest

lint: $(STAMP)  ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)  ## ruff format + autofix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

serve: $(STAMP)  ## API + Streamlit with a fresh demo key: the champion of MLFLOW_TRACKING_URI (source .stack.env), else the embedded default (ENV=<portfolio>, API_PORT=, UI_PORT=)
	$(BIN)/python -m scripts.serve $(if $(ENV),--env $(ENV)) $(if $(API_PORT),--api-port $(API_PORT)) $(if $(UI_PORT),--ui-port $(UI_PORT))

stack-up: $(STAMP)  ## no-Docker stack on 127.0.0.1 (PostgreSQL, durable S3, MLflow server, Dask)
	$(BIN)/python -m quantumfinance.stack up

stack-down: $(STAMP)  ## stop exactly the processes stack-up started
	$(BIN)/python -m quantumfinance.stack down

repro: $(STAMP)  ## dvc repro: re-run the stale DVC stages, update dvc.lock (commit it)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

data-push: $(STAMP)  ## dvc push that fails when a tracked output did not reach the remote
	$(BIN)/python -m quantumfinance.data_versions push

chaos: $(STAMP)  ## crash matrix: kill S3/PostgreSQL/MLflow at each training step, check the registry
	$(BIN)/python scripts/crash_matrix.py

bench: $(STAMP)  ## benchmarks -> docs/benchmarks.md
	$(BIN)/python -m benchmarks

viz: $(STAMP)  ## kedro viz on http://127.0.0.1:4141
	$(BIN)/kedro viz run --host 127.0.0.1 --port 4141

jupyter: $(STAMP)  ## kedro jupyter lab with the catalog loaded
	$(BIN)/kedro jupyter lab

clean:  ## remove generated data and the local MLflow store (keeps .venv)
	find data -type f ! -name .gitkeep -delete
	rm -rf mlflow.db mlruns mlartifacts
