"""Every contract mistake that the data can reveal stops ingest before anything is written: the
run ends with exit code != 0 and one message naming the contract file, the field and the problem
(no traceback unless asked for), and no file appears under data/."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pandas as pd
import pytest
import yaml

from quantumfinance.contract import ContractError, load_contract
from quantumfinance.pipelines.ingest.nodes import load_raw_applicants
from tests.support.generated import AMOUNT, REGION, TARGET, drafted_project, kedro_run
from tests.support.portfolios import contract, contract_path, ingest_params


@pytest.fixture(scope="module")
def drafted(tmp_path_factory):
    return drafted_project(tmp_path_factory.mktemp("contract_checks") / "project")


def _entry(data: dict, source: str) -> dict:
    return next(c for c in data["characteristics"] if c["source"] == source)


def _float_declared_integer(data: dict) -> None:
    _entry(data, AMOUNT).update(type="integer", minimum=0, maximum=10**6)


def _codes_declared_without_zeros(data: dict) -> None:
    _entry(data, REGION)["categories"] = ["1", "2", "3", "4", "5"]


def _one_unknown_target_value(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[0, TARGET] = "inconnu"  # 1 row of 600: under every tolerance but the contract's
    return frame


MISTAKES = {
    "unmapped target value": (None, _one_unknown_target_value, "target.bad/target.good"),
    "float declared integer": (_float_declared_integer, None, "characteristics[montant_eur].type"),
    "codes on a numeric-looking column": (
        _codes_declared_without_zeros,
        None,
        "characteristics[region_code].categories",
    ),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_contract_mistake_stops_ingest_before_writing(drafted, mistake):
    edit_contract, edit_data, field = MISTAKES[mistake]
    saved = {p: p.read_bytes() for p in (drafted.contract_file, drafted.data_file)}
    try:
        if edit_contract:
            data = yaml.safe_load(drafted.contract_file.read_text())
            edit_contract(data)
            drafted.contract_file.write_text(yaml.safe_dump(data, allow_unicode=True))
        if edit_data:
            frame = pd.read_csv(drafted.data_file, sep=";", decimal=",", dtype="str")
            edit_data(frame).to_csv(drafted.data_file, sep=";", index=False)
        done = kedro_run(drafted.root, drafted.env, "ingest")
    finally:
        for path, content in saved.items():
            path.write_bytes(content)
    assert done.returncode != 0
    assert f"Error: {drafted.contract_file}: {field}:" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    written = [p for p in (drafted.root / "data").rglob("*") if p.is_file()]
    assert not written, written
    shutil.rmtree(drafted.root / "data" / drafted.env, ignore_errors=True)


def _cards_contract(tmp_path, edit: Callable[[dict], None]):
    data = yaml.safe_load(contract_path("cards").read_text())
    edit(data)
    path = tmp_path / "applicant_contract.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return load_contract(path), path


def _cards_file(tmp_path, change: Callable[[pd.DataFrame], pd.DataFrame]) -> dict:
    params = ingest_params("cards")
    read = params["read"]
    frame = change(pd.read_csv(params["path"], **read))
    path = tmp_path / "source.csv"
    frame.to_csv(path, index=False, sep=read["sep"], decimal=read["decimal"])
    return {**params, "path": str(path), "read": {**read, "encoding": "utf-8"}}


def _unknown_targets(rows: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[: rows - 1, "default"] = "Maybe"
        return frame

    return change


def test_the_contract_can_tolerate_unmapped_target_values_by_name(tmp_path):
    params = _cards_file(tmp_path, _unknown_targets(4))
    with pytest.raises(ContractError, match="target.max_unmapped_fraction allows 0"):
        load_raw_applicants(params, contract("cards"))
    tolerant, _ = _cards_contract(
        tmp_path, lambda d: d["target"].update(max_unmapped_fraction=0.01)
    )
    raw = load_raw_applicants(params, tolerant)
    assert (raw[tolerant.target.name] == "Maybe").sum() == 4  # quarantined by data_engineering


def test_a_range_that_would_quarantine_too_many_rows_is_the_contracts_error(tmp_path):
    def edit(data):
        data["characteristics"][0].update(maximum=1000, example=500.0)  # most balances are higher

    narrow, path = _cards_contract(tmp_path, edit)
    with pytest.raises(ContractError) as failure:
        load_raw_applicants(ingest_params("cards"), narrow, max_quarantine_fraction=0.05)
    message = str(failure.value)
    assert message.startswith(f"{path}: characteristics[balance].minimum/maximum:")
    assert "in column 'Balance'" in message
    assert "in_range(0, 1000)" in message and "max_quarantine_fraction=0.05" in message


def test_the_shipped_portfolios_pass_every_check():
    for env in ("base", "cards"):
        assert len(load_raw_applicants(ingest_params(env), contract(env), 0.05))
