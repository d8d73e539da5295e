"""The shipped portfolios as tests need them: their contracts and their applicants.

Everything is read the way the pipelines read it (conf/<env>/applicant_contract.yml, the env's
`ingest` parameters, the ingest and validation nodes), so a test never names a column the
contract does not give it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from quantumfinance.contract import ApplicantContract, load_contract
from quantumfinance.data_dictionary import ingest_parameters
from quantumfinance.pipelines.data_engineering.nodes import validate_applicants
from quantumfinance.pipelines.ingest.nodes import load_raw_applicants

REPO_ROOT = Path(__file__).resolve().parents[2]
PORTFOLIOS = ("base", "cards")  # conf folders: base = German credit (the default), cards


def contract_path(env: str = "base") -> Path:
    return REPO_ROOT / "conf" / env / "applicant_contract.yml"


@cache
def contract(env: str = "base") -> ApplicantContract:
    """The env's applicant contract, as the catalog loads it."""
    return load_contract(contract_path(env))


def ingest_params(env: str = "base") -> dict[str, Any]:
    """The env's `ingest` parameters, with the example file's path made absolute."""
    params = ingest_parameters(env, REPO_ROOT)  # merged as a Kedro session in env reads them
    if params.get("path"):
        params["path"] = str(REPO_ROOT / params["path"])
    return params


@cache
def _raw(env: str) -> pd.DataFrame:
    return load_raw_applicants(ingest_params(env), contract(env))


def raw_applicants(env: str = "base") -> pd.DataFrame:
    """What ingest writes for the env: contract column names, target as the source codes it."""
    return _raw(env).copy()


@cache
def _valid(env: str) -> pd.DataFrame:
    screened, quarantined, _ = validate_applicants(_raw(env), contract(env))
    assert quarantined.empty, f"the shipped {env} data should all be valid"
    return screened


def applicants(env: str = "base") -> pd.DataFrame:
    """The env's applicants validated and typed (target 0/1), as data_engineering passes them on."""
    return _valid(env).copy()
