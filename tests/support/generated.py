"""A loan table the project has never seen, generated for tests: random column names (spaces,
accents), a text id, codes with leading zeros, a string target, missing values, one whole-number
and one decimal column; and a project copy with an env drafted from it by
``python -m quantumfinance.contract draft``."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tests.conftest import make_project_copy

# Column names of the generated table (this file generates it: tests may name them).
ID, REGION, AMOUNT, MONTHS, INCOME, GRADE, TARGET = (
    "Dossier ID",
    "Région code",
    "Montant (EUR)",
    "Durée mois",
    "Revenu annuel",
    "Grade",
    "Statut final",
)
BAD, GOOD = "défaut", "remboursé"


def generated_loans(rows: int = 600, seed: int = 5) -> pd.DataFrame:
    """The table, with a planted risk signal so that both classes are well represented."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["01", "02", "03", "04", "05"], rows)
    months = rng.integers(6, 72, rows)
    risk = 0.15 + 0.004 * (months - 6) + np.where(region == "05", 0.1, 0.0)
    return pd.DataFrame(
        {
            ID: [f"D-{i:06d}" for i in rng.permutation(rows)],
            REGION: region,
            AMOUNT: np.round(rng.gamma(2.0, 2500.0, rows), 2),
            MONTHS: months,
            INCOME: np.where(rng.random(rows) < 0.1, np.nan, np.round(rng.normal(3e4, 8e3, rows))),
            GRADE: np.where(rng.random(rows) < 0.05, None, rng.choice(["A", "B", "C"], rows)),
            TARGET: np.where(rng.random(rows) < risk, BAD, GOOD),
        }
    )


@dataclass
class DraftedProject:
    """A project copy with the generated table under examples/ and env ``env`` drafted from it."""

    root: Path
    env: str
    data_file: Path
    draft_output: str

    @property
    def contract_file(self) -> Path:
        return self.root / "conf" / self.env / "applicant_contract.yml"


def kedro_env() -> dict[str, str]:
    """The environment of a `kedro` child process (no other test's MLflow store)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return {**env, "KEDRO_DISABLE_TELEMETRY": "true", "QF_VERBOSE_ERRORS": ""}


def _run(root: Path, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=root, env=kedro_env(), capture_output=True, text=True, timeout=600, check=False
    )


def run_module(root: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m ...`` in the project copy."""
    return _run(root, [sys.executable, "-m", *args])


def kedro_run(root: Path, env: str, pipeline: str) -> subprocess.CompletedProcess:
    """``kedro run --env ENV --pipelines=PIPELINE`` in the project copy."""
    kedro = Path(sys.executable).with_name("kedro")
    return _run(root, [str(kedro), "run", f"--env={env}", f"--pipelines={pipeline}"])


def drafted_project(root: Path, env: str = "drafted", csv: dict | None = None) -> DraftedProject:
    """Copy the project, write the generated table (CSV options ``csv``), draft env ``env``."""
    make_project_copy(root)
    data_file = root / "examples" / "generated_loans.csv"
    options = {"sep": ";", "decimal": ",", "encoding": "utf-8", **(csv or {})}
    generated_loans().to_csv(data_file, index=False, **options)
    done = run_module(
        root, "quantumfinance.contract", "draft", str(data_file), "--target", TARGET,
        "--bad", BAD, "--env", env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return DraftedProject(root, env, data_file, done.stdout)
