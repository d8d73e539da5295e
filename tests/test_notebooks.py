"""The EDA notebook runs top to bottom on a project copy and draws its figure."""

from __future__ import annotations

import shutil

import nbformat
from mlflow.tracking import MlflowClient
from nbclient import NotebookClient

from quantumfinance.contract import load_contract
from quantumfinance.synthetic import generate_applicants
from tests.conftest import REPO_ROOT, make_project_copy

NOTEBOOK = REPO_ROOT / "notebooks" / "01_eda.ipynb"
# Appended by the test only: log a run from the notebook's session, as a data scientist would.
LOG_A_RUN = """import mlflow
with mlflow.start_run(run_name="from-notebook"):
    mlflow.log_param("started_in", "notebooks")
print("tracking", mlflow.get_tracking_uri())"""
CONTRACT = REPO_ROOT / "conf" / "base" / "applicant_contract.yml"


def test_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert code_cells
    assert all(not c.outputs and c.execution_count is None for c in code_cells)


def test_code_names_no_column_itself():
    """Columns come from the contract, so the notebook draws any portfolio's characteristics."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = "\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    contract = load_contract(CONTRACT)
    named = [n for n in contract.columns if f'"{n}"' in code or f"'{n}'" in code]
    assert not named


def test_eda_notebook_reads_the_catalog_and_plots(tmp_path):
    root = tmp_path / "project"
    make_project_copy(root)
    # The shipped relative store (`sqlite:///mlflow.db`), not the copy's absolute one: a session
    # started in notebooks/ must still log to the project root's store.
    shutil.copy(REPO_ROOT / "conf" / "base" / "mlflow.yml", root / "conf" / "base" / "mlflow.yml")
    (root / "notebooks").mkdir()
    shutil.copy(NOTEBOOK, root / "notebooks" / NOTEBOOK.name)
    # raw_applicants as `kedro run --pipelines=ingest` would leave it (synthetic, to tell apart).
    contract = load_contract(CONTRACT)
    raw = generate_applicants(contract, 1_500, seed=3)
    rate = contract.target.flag(raw[contract.target.name]).mean()
    raw.to_parquet(root / "data" / "01_raw" / "applicants.parquet")

    notebook = nbformat.read(root / "notebooks" / NOTEBOOK.name, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(LOG_A_RUN))
    client = NotebookClient(
        notebook,
        timeout=240,
        kernel_name="python3",
        resources={"metadata": {"path": str(root / "notebooks")}},
    )
    client.execute()

    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Loaded 1,500 applicants from catalog dataset raw_applicants" in text
    assert f"Overall default rate: {rate:.1%}" in text  # the source-coded target was read
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1
    assert len(images[0]["data"]["image/png"]) > 10_000  # a real multi-panel figure
    # The notebook's session logged to the project's store, not to notebooks/mlflow.db.
    assert not (root / "notebooks" / "mlflow.db").exists()
    assert f"tracking sqlite:///{root.resolve() / 'mlflow.db'}" in text
    runs = MlflowClient(f"sqlite:///{root / 'mlflow.db'}").search_runs(
        [
            e.experiment_id
            for e in MlflowClient(f"sqlite:///{root / 'mlflow.db'}").search_experiments()
        ],
        filter_string="tags.mlflow.runName = 'from-notebook'",
    )
    assert len(runs) == 1
