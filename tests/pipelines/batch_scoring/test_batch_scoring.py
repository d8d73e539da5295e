"""batch_scoring against a REAL scheduler and two worker processes: the book equals the
registered model's predict row for row, every row is scored or quarantined, both workers
worked (the model loaded once on each), the run is its own MLflow run linked to the model's,
and a worker killed mid-run never leaves a book marked complete that is not."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import mlflow
import pandas as pd
import pyarrow.parquet as pq
import pytest
from distributed import Client

from quantumfinance.pipelines.batch_scoring.engine import model_loads
from quantumfinance.pipelines.batch_scoring.nodes import (
    MARKER,
    resolve_scoring_model,
    score_book,
)
from tests.conftest import close_stale_mlflow_runs, run_pipelines

SCORE_COLUMNS = ["pd", "score", "band", "decision"]


def _engine(cluster) -> dict:
    return {"scheduler": cluster.address, "connect_timeout": "30s"}


def _planted_book(project, path: Path, copies: int = 3) -> tuple[Path, set]:
    """The test split repeated (fresh ids), with a few rows broken on purpose; the bad ids."""
    contract = project.contract
    book = pd.concat([project.applicants_test] * copies, ignore_index=True)
    book[contract.id.name] = range(1, len(book) + 1)
    numeric = contract.numeric_features[0]
    categorical = contract.categorical_features[0]
    book[numeric] = book[numeric].astype("float64")
    book.loc[[3, 50], numeric] = -1e9  # below the minimum
    book[categorical] = book[categorical].astype("object")
    book.loc[[7], categorical] = "not-a-category"
    # Six row groups, read as six partitions (parquet_blocksize 1B): six reads the scheduler
    # hands to both workers from the start (a repartitioned single read starts all its pieces
    # on the worker that made it, and only work stealing, a race, moves some).
    book.to_parquet(path, row_group_size=-(-len(book) // 6))
    return path, set(book.loc[[3, 7, 50], contract.id.name])


@pytest.fixture(scope="module")
def book_run(trained_project, cluster, tmp_path_factory):
    """The batch_scoring pipeline run once through Kedro on the real cluster."""
    folder = tmp_path_factory.mktemp("book")
    portfolio, bad_ids = _planted_book(trained_project, folder / "book.parquet")
    output = folder / "scored_book"
    params = {
        "batch_scoring": {"parquet_blocksize": "1B"},
        "batch_scoring_storage": {"portfolio": str(portfolio), "output": str(output)},
        "dask_engine": _engine(cluster),
    }
    run_pipelines(trained_project.root, trained_project.tracking_uri, ["batch_scoring"], params)
    return portfolio, output, bad_ids


def test_every_row_is_scored_or_quarantined(book_run, trained_project):
    portfolio, output, bad_ids = book_run
    id_name = trained_project.contract.id.name
    rows_in = len(pd.read_parquet(portfolio))
    scored = pd.read_parquet(output / "scored")
    quarantined = pd.read_parquet(output / "quarantined")
    manifest = json.loads((output / MARKER).read_text())
    assert len(scored) + len(quarantined) == rows_in == manifest["rows_in"]
    assert manifest["rows_quarantined"] == len(quarantined) == len(bad_ids)
    assert set(quarantined[id_name].astype(int)) == bad_ids
    assert not set(scored[id_name]) & bad_ids
    numeric = trained_project.contract.numeric_features[0]
    assert quarantined["quarantine_reasons"].str.contains(numeric).sum() == 2
    assert sum(manifest["profile"]["decision"].values()) == len(scored)


def test_book_equals_the_registered_models_predict(book_run, trained_project):
    portfolio, output, _ = book_run
    id_name = trained_project.contract.id.name
    scored = pd.read_parquet(output / "scored").set_index(id_name)
    sample = (
        pd.read_parquet(portfolio).set_index(id_name).loc[scored.index].sample(60, random_state=3)
    )
    with trained_project.tracking():
        model = mlflow.pyfunc.load_model(trained_project.model_uri)
        version = mlflow.MlflowClient().get_model_version_by_alias("credit-score", "champion")
    contract = trained_project.contract
    whole = {c.name: "int64" for c in contract.features if c.type == "integer" and not c.nullable}
    features = sample[list(contract.feature_names)].astype(whole).reset_index(drop=True)
    expected = model.predict(features)
    got = scored.loc[sample.index].reset_index(drop=True)
    pd.testing.assert_frame_equal(got[SCORE_COLUMNS], expected[SCORE_COLUMNS], check_dtype=False)
    for ours, theirs in zip(got["reason_codes"], expected["reason_codes"], strict=True):
        assert [r["code"] for r in ours] == [r["code"] for r in theirs]
        assert [r["text"] for r in ours] == [r["text"] for r in theirs]
    assert set(got["model_version"]) == {str(version.version)}
    assert set(got["model_run_id"]) == {version.run_id}


def test_work_ran_on_both_workers_with_one_model_load_each(book_run, cluster):
    _, output, _ = book_run
    manifest = json.loads((output / MARKER).read_text())
    assert manifest["partitions"] == 6
    with Client(cluster.address) as client:
        workers = set(client.scheduler_info()["workers"])
        loads = client.run(model_loads)
    assert set(manifest["partitions_per_worker"]) == workers and len(workers) == 2
    # Six partitions, two workers: the model was loaded once per worker, not per partition.
    assert all(n == 1 for count in loads.values() for n in count.values()), loads
    assert all(loads.values()), loads


def test_run_is_its_own_mlflow_run_linked_to_the_model(book_run, trained_project):
    with trained_project.tracking():
        client = mlflow.MlflowClient()
        version = client.get_model_version_by_alias("credit-score", "champion")
        runs = mlflow.search_runs(
            search_all_experiments=True,
            filter_string=f"tags.`quantumfinance.model_run_id` = '{version.run_id}'",
            output_format="list",
        )
        batch = [r for r in runs if "batch.rows_in" in r.data.metrics]
        assert batch, "no batch scoring run linked to the model's run"
        run = batch[-1]
        assert run.info.run_id != version.run_id
        assert run.data.tags["quantumfinance.model_version"] == str(version.version)
        artifacts = [a.path for a in client.list_artifacts(run.info.run_id, "batch_scoring")]
    assert "batch_scoring/batch_scoring_summary.json" in artifacts
    assert (
        run.data.metrics["batch.rows_scored"] + run.data.metrics["batch.rows_quarantined"]
        == (run.data.metrics["batch.rows_in"])
    )


def test_cards_book_from_csv_on_the_cluster(cards_project, cluster, tmp_path):
    """The second shipped portfolio, read as CSV text: same code, the cards model's contract."""
    contract = cards_project.contract
    portfolio, bad_ids = _planted_book(cards_project, tmp_path / "book.parquet", copies=1)
    frame = pd.read_parquet(portfolio)
    frame.to_csv(tmp_path / "book.csv", index=False)
    output = tmp_path / "scored_book"
    with cards_project.tracking():
        model = resolve_scoring_model(cards_project.model_uri)
        storage = {"portfolio": str(tmp_path / "book.csv"), "output": str(output)}
        manifest = score_book(model, {"partitions": 2}, storage, _engine(cluster))
        pyfunc = mlflow.pyfunc.load_model(cards_project.model_uri)
    close_stale_mlflow_runs()
    scored = pd.read_parquet(output / "scored")
    quarantined = pd.read_parquet(output / "quarantined")
    assert len(scored) + len(quarantined) == len(frame) == manifest["rows_in"]
    assert set(quarantined[contract.id.name].astype(int)) == bad_ids
    ids = scored[contract.id.name].astype(int).head(25)
    sample = frame.set_index(contract.id.name).loc[ids]
    whole = {c.name: "int64" for c in contract.features if c.type == "integer" and not c.nullable}
    expected = pyfunc.predict(
        sample[list(contract.feature_names)].astype(whole).reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(
        scored.head(25)[SCORE_COLUMNS].reset_index(drop=True),
        expected[SCORE_COLUMNS],
        check_dtype=False,
    )


def test_a_worker_killed_mid_run_leaves_no_book_marked_complete(trained_project, cluster, tmp_path):
    """Last in this module: one worker of the module's cluster is killed once the first
    partition was written (the model is already loaded on both, so the run is short)."""
    portfolio, _ = _planted_book(trained_project, tmp_path / "book.parquet", copies=4)
    output = tmp_path / "scored_book"
    with trained_project.tracking():
        model = resolve_scoring_model(trained_project.model_uri)
    batch = {"partitions": 12, "retries": 2}
    storage = {"portfolio": str(portfolio), "output": str(output)}
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["manifest"] = score_book(model, batch, storage, _engine(cluster))
        except RuntimeError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("scored_book.staging-*/scored/part-*")):
        assert time.monotonic() < deadline and thread.is_alive(), outcome
        time.sleep(0.05)
    cluster.workers["worker-1"].proc.kill()
    thread.join(300)
    assert not thread.is_alive(), "the run neither completed nor failed after a worker died"
    close_stale_mlflow_runs()
    assert not list(tmp_path.glob("scored_book.staging-*")), "staging left behind"
    if "error" in outcome:  # failed clearly: nothing presented as complete
        assert "nothing was committed" in str(outcome["error"])
        assert not (output / MARKER).exists()
        return
    manifest = outcome["manifest"]
    assert (output / MARKER).exists()
    scored, quarantined = (
        pd.read_parquet(output / "scored"),
        pd.read_parquet(output / "quarantined"),
    )
    assert len(scored) + len(quarantined) == len(pd.read_parquet(portfolio)) == manifest["rows_in"]
    assert len(list((output / "scored").glob("part-*"))) == 12


def test_one_big_file_is_spread_over_partitions_and_scored_in_chunks(
    trained_project, tmp_path, monkeypatch
):
    """A single parquet file is read as one partition per row group (not one for the file), and
    a partition larger than CHUNK_ROWS is scored and written chunk by chunk, every row kept."""
    from quantumfinance.pipelines.batch_scoring import nodes  # noqa: PLC0415

    monkeypatch.setattr(nodes, "CHUNK_ROWS", 100)
    id_name = trained_project.contract.id.name
    book = pd.concat([trained_project.applicants_test] * 4, ignore_index=True)
    book[id_name] = range(1, len(book) + 1)
    groups = 4
    book.to_parquet(tmp_path / "book.parquet", row_group_size=len(book) // groups)
    storage = {"portfolio": str(tmp_path / "book.parquet"), "output": str(tmp_path / "out")}
    in_process = {"local_cluster": {"n_workers": 1, "processes": False, "dashboard_address": ":0"}}
    with trained_project.tracking():
        model = resolve_scoring_model(trained_project.model_uri)
        manifest = score_book(model, {"parquet_blocksize": "1B"}, storage, in_process)
    assert manifest["partitions"] == groups
    files = sorted((tmp_path / "out" / "scored").glob("*.parquet"))
    chunks_per_part = -(-(len(book) // groups) // 100)
    assert [pq.ParquetFile(f).metadata.num_row_groups for f in files] == [chunks_per_part] * groups
    scored = pd.read_parquet(tmp_path / "out" / "scored")
    quarantined = pd.read_parquet(tmp_path / "out" / "quarantined")
    assert len(scored) + len(quarantined) == len(book) == manifest["rows_in"]
    assert sorted(scored[id_name].tolist() + quarantined[id_name].astype(int).tolist()) == list(
        range(1, len(book) + 1)
    )
