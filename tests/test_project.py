"""The Kedro project as users drive it: the pipeline registry and a real run in a project copy."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from tests.conftest import REPO_ROOT, make_project_copy, run_pipelines
from tests.support.portfolios import contract

# What data_engineering makes of each characteristic type (validation.to_contract_types).
TYPED_AS = {"categorical": "str", "integer": "int64", "float": "float64"}


def test_registry_lists_the_data_pipelines_and_alias():
    result = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "kedro"), "registry", "list"],
        cwd=REPO_ROOT,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    listed = {line.removeprefix("- ").strip() for line in result.stdout.splitlines()}
    assert {"ingest", "data_engineering", "de"} <= listed


def test_kedro_run_writes_raw_validated_train_and_test(tmp_path, monkeypatch):
    root = tmp_path / "project"
    uri = make_project_copy(root)
    monkeypatch.chdir(root)  # as `kedro run` does: ingest.path is relative to the project
    runtime = {"ingest": {"source": "synthetic", "n_rows": 3000, "seed": 9}}
    run_pipelines(root, uri, ["ingest", "data_engineering"], runtime)

    german = contract("base")
    data = root / "data"
    raw = pd.read_parquet(data / "01_raw" / "applicants.parquet")
    validated = pd.read_parquet(data / "02_intermediate" / "validated_applicants.parquet")
    train = pd.read_parquet(data / "05_model_input" / "applicants_train.parquet")
    test = pd.read_parquet(data / "05_model_input" / "applicants_test.parquet")
    quality = json.loads((data / "08_reporting" / "data_quality.json").read_text())

    assert len(raw) == 3000  # the runtime override reached the ingest node
    assert len(validated) == quality["rows_valid"] == 3000 - quality["rows_quarantined"]
    assert len(train) + len(test) == len(validated)
    assert len(test) == round(0.25 * len(validated))  # parameters_data_engineering.yml
    assert list(train.columns) == list(test.columns) == list(german.columns)
    for c in german.characteristics:
        expected = "float64" if c.type == "integer" and c.nullable else TYPED_AS[c.type]
        assert train[c.name].dtype == expected, c.name
    assert set(train[german.target.name]) == {0, 1}
    assert (data / "02_intermediate" / "quarantined_applicants.parquet").exists()


def _spoil_one_value(path: Path, column: str, value: str, read: dict) -> int:
    """Replace ``column`` in the first data row of the CSV with ``value``, keeping the file's own
    separator and encoding; return how many rows the file has."""
    lines = path.read_text(encoding=read["encoding"]).splitlines()
    header = lines[0].split(read["sep"])
    cells = lines[1].split(read["sep"])
    cells[header.index(column)] = value
    lines[1] = read["sep"].join(cells)
    path.write_text("\n".join(lines) + "\n", encoding=read["encoding"])
    return len(lines) - 1


def test_cards_env_runs_ingest_and_data_engineering_without_code_change(tmp_path, monkeypatch):
    """`--env cards`: another contract, a European CSV, its own data root; the same code."""
    cards = contract("cards")
    root = tmp_path / "project"
    uri = make_project_copy(root, env="cards")
    monkeypatch.chdir(root)
    params = yaml.safe_load((root / "conf" / "cards" / "parameters_ingest.yml").read_text())
    ingest = params["ingest"]
    # One applicant with a gender outside the contract: the protected column is validated too.
    (protected,) = cards.protected
    n_rows = _spoil_one_value(
        root / ingest["path"], protected.source_column, "not declared", ingest["read"]
    )

    run_pipelines(root, uri, ["ingest", "data_engineering"], env="cards")

    data_root = yaml.safe_load((root / "conf" / "cards" / "globals.yml").read_text())["data_root"]
    data = root / data_root
    assert data != root / "data"
    assert not any((root / "data" / "01_raw").iterdir()), "cards data went to the default root"
    raw = pd.read_parquet(data / "01_raw" / "applicants.parquet")
    validated = pd.read_parquet(data / "02_intermediate" / "validated_applicants.parquet")
    quarantined = pd.read_parquet(data / "02_intermediate" / "quarantined_applicants.parquet")
    train = pd.read_parquet(data / "05_model_input" / "applicants_train.parquet")
    test = pd.read_parquet(data / "05_model_input" / "applicants_test.parquet")
    quality = json.loads((data / "08_reporting" / "data_quality.json").read_text())

    id_, target = cards.id.name, cards.target.name
    assert len(raw) == n_rows and raw[id_].tolist() == list(range(1, n_rows + 1))  # generated ids
    # The protected attribute is checked like any column: the spoilt row is quarantined for it.
    assert quarantined[id_].tolist() == [1]
    assert quarantined["quarantine_reasons"].tolist() == [f"{protected.name}: unknown_category"]
    assert quality["rows_valid"] == len(validated) == n_rows - 1
    # ... and kept (validated, split) though the model never uses it.
    assert protected.name not in cards.feature_names
    for table in (validated, train, test):
        assert list(table.columns) == list(cards.columns)
        assert set(table[protected.name]) <= set(protected.categories)
    assert len(train) + len(test) == len(validated)

    kept = raw.set_index(id_).loc[validated[id_]]
    floats = [c.name for c in cards.characteristics if c.type == "float"]
    assert floats
    for name in floats:  # decimal commas read as numbers, never rounded or turned to text
        assert raw[name].dtype == validated[name].dtype == train[name].dtype == "float64", name
        np.testing.assert_array_equal(validated[name].to_numpy(), kept[name].to_numpy())
    nullable = [c.name for c in cards.characteristics if c.nullable]
    assert nullable
    for name in nullable:  # missing is a valid value of these columns: kept as missing
        assert validated[name].isna().sum() == kept[name].isna().sum() > 0, name
        assert train[name].isna().any() and test[name].isna().any(), name

    # The source's Yes/No target becomes 0/1 (bad = 1).
    assert set(raw[target]) == {*map(str, cards.target.bad), *map(str, cards.target.good)}
    assert validated[target].dtype == "int64"
    expected = kept[target].isin(cards.target.bad).astype("int64")
    np.testing.assert_array_equal(validated[target].to_numpy(), expected.to_numpy())
    assert set(train[target]) == set(test[target]) == {0, 1}
