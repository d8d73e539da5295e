"""Nodes of the monitoring pipeline: a scored book against the model's development sample.

Stability compares the book's profile (counted on the Dask workers while the book was scored,
with the model's own bins) with the development reference logged with the model: score PSI,
per-characteristic CSI, band mix and approval rate. Back-testing joins the book with an
outcomes table on Dask and compares observed with predicted default rates, AUC/KS/Gini and
calibration. Each figure gets a status (stable / monitor / shift) from parameters_monitoring.yml.
PSI is optbinning's Jeffrey divergence (what its ScorecardMonitoring reports as PSI).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import dask
import dask.dataframe as dd
import mlflow
import numpy as np
import pandas as pd
from fsspec.core import url_to_fs
from matplotlib.figure import Figure
from optbinning.binning.metrics import jeffrey
from sklearn.metrics import roc_auc_score, roc_curve

from quantumfinance.contract import contract_of_scoring_model
from quantumfinance.pipelines.batch_scoring.engine import dask_client, worker_model
from quantumfinance.pipelines.batch_scoring.nodes import MARKER

logger = logging.getLogger(__name__)

REFERENCE_ARTIFACT = "monitoring/development_reference.json"
STATUSES = ("stable", "monitor", "shift")
SHARE_FLOOR = 1e-6  # empty buckets get this share so that the divergence stays finite
FIGURE_COLUMNS = ["figure", "kind", "value", "monitor", "shift", "status"]
BACKTEST_COLUMNS = [
    "segment",
    "applicants",
    "defaults",
    "predicted_default_rate",
    "observed_default_rate",
    "difference",
]


class MonitoringAlert(RuntimeError):
    """A monitored figure reached the status named by ``monitoring.fail_on``."""


def status_of(value: float, limits: dict[str, float]) -> str:
    """stable below ``monitor``, monitor below ``shift``, shift from there."""
    if value < limits["monitor"]:
        return "stable"
    return "monitor" if value < limits["shift"] else "shift"


def psi(expected: dict[str, int], actual: dict[str, int]) -> float:
    """Population stability index of two count distributions over the same buckets."""
    keys = sorted(set(expected) | set(actual))
    shares = pd.DataFrame(
        {"e": [expected.get(k, 0) for k in keys], "a": [actual.get(k, 0) for k in keys]},
        dtype="float64",
    )
    shares = (shares / shares.sum()).clip(lower=SHARE_FLOOR)
    return float(jeffrey(shares["a"].to_numpy(), shares["e"].to_numpy(), return_sum=True))


# ----------------------------------------------------------------------------- inputs


def load_development_reference(monitored_model: dict[str, str]) -> dict[str, Any]:
    """The development-sample reference logged with the model's training run."""
    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=monitored_model["run_id"],
            artifact_path=REFERENCE_ARTIFACT,
            tracking_uri=monitored_model["tracking_uri"],
        )
    except Exception as exc:  # MlflowException or the store's own OSError
        raise FileNotFoundError(
            f"{monitored_model['uri']} (run {monitored_model['run_id']}) has no "
            f"{REFERENCE_ARTIFACT}: retrain it with this version of data_science ({exc})"
        ) from exc
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_book_manifest(monitored_model: dict[str, str], storage: dict[str, Any]) -> dict:
    """The committed book's manifest; a book without ``_SUCCESS`` or of another model fails."""
    book = storage["scored_book"].rstrip("/")
    fs, root = url_to_fs(book, **(storage.get("storage_options") or {}))
    if not fs.exists(f"{root}/{MARKER}"):
        raise FileNotFoundError(
            f"{book}/{MARKER} does not exist: the book is missing or its scoring did not complete"
        )
    with fs.open(f"{root}/{MARKER}", "r") as handle:
        manifest = json.load(handle)
    if manifest["model"]["version"] != monitored_model["version"]:
        raise ValueError(
            f"{book} was scored by {manifest['model']['uri']}, not {monitored_model['uri']}: "
            "monitor a book with the model that scored it"
        )
    return manifest


# ----------------------------------------------------------------------------- stability


def _score_buckets(reference: dict[str, int], buckets: int) -> np.ndarray:
    """Inner edges of the reference's score quantile buckets (deciles by default)."""
    series = pd.Series(reference).rename(index=int).sort_index()
    cumulative = (series.cumsum() / series.sum()).to_numpy()
    quantiles = np.linspace(0, 1, buckets + 1)[1:-1]
    return np.unique(series.index.to_numpy()[np.searchsorted(cumulative, quantiles)])


def _bucketed(counts: dict[str, int], edges: np.ndarray) -> dict[str, int]:
    series = pd.Series(counts, dtype="int64").rename(index=int)
    bucket = np.searchsorted(edges, series.index.to_numpy(), side="right")
    return {str(k): int(v) for k, v in series.groupby(bucket).sum().items()}


def _figure(figure: str, kind: str, value: float, limits: dict[str, float]) -> dict[str, Any]:
    return {
        "figure": figure,
        "kind": kind,
        "value": float(value),
        **limits,
        "status": status_of(value, limits),
    }


def _approval_rate(decisions: dict[str, int], approve: str) -> float:
    return decisions.get(approve, 0) / max(sum(decisions.values()), 1)


def stability_figures(
    reference: dict[str, Any], manifest: dict[str, Any], monitoring: dict[str, Any]
) -> pd.DataFrame:
    """Score PSI, CSI per characteristic, band-mix PSI and approval-rate change, with status."""
    limits, book = monitoring["thresholds"], manifest["profile"]
    edges = _score_buckets(reference["score"], monitoring["score_buckets"])
    rows = [
        _figure(
            "score",
            "psi",
            psi(_bucketed(reference["score"], edges), _bucketed(book["score"], edges)),
            limits["psi"],
        ),
        _figure("band_mix", "psi", psi(reference["band"], book["band"]), limits["band_mix_psi"]),
    ]
    approve = monitoring["approve_decision"]
    change = abs(
        _approval_rate(book["decision"], approve) - _approval_rate(reference["decision"], approve)
    )
    rows.append(_figure("approval_rate", "change", change, limits["approval_rate_change"]))
    for name, counts in reference["characteristics"].items():
        actual = book["characteristics"].get(name, {})
        rows.append(_figure(name, "csi", psi(counts, actual), limits["csi"]))
    return pd.DataFrame(rows, columns=FIGURE_COLUMNS)


# ----------------------------------------------------------------------------- back-testing


def _read_table(path: str, options: dict) -> dd.DataFrame:
    if ".csv" in path.rsplit("/", 1)[-1]:
        return dd.read_csv(path, storage_options=options)
    return dd.read_parquet(path, storage_options=options)


def _joined_outcomes(
    monitoring: dict[str, Any], manifest: dict[str, Any], id_column: str, options: dict
) -> dd.DataFrame:
    """The scored book joined on the id with the outcomes (observed up to ``as_of``; the date
    column is needed only then)."""
    spec = monitoring["outcomes"]
    outcomes = _read_table(spec["path"], options)
    wanted = [id_column, spec["defaulted_column"]]
    wanted += [spec["as_of_column"]] if spec.get("as_of") else []
    missing = [c for c in wanted if c not in outcomes.columns]
    if missing:
        raise ValueError(f"outcomes {spec['path']} is missing column(s): {', '.join(missing)}")
    outcomes = outcomes[wanted]
    if spec.get("as_of"):
        dates = dd.to_datetime(outcomes[spec["as_of_column"]])
        outcomes = outcomes[dates <= pd.Timestamp(spec["as_of"])]
    scored = dd.read_parquet(
        f"{manifest['output']}/scored", columns=[id_column, "pd", "score", "band"],
        storage_options=options,
    )  # fmt: skip
    return scored.merge(outcomes, on=id_column, how="inner")


def _discrimination(by_score: pd.Series) -> dict[str, float]:
    """AUC, Gini and KS from applicants per (score, defaulted): exact, ties included."""
    frame = by_score.rename("n").reset_index()
    bad = frame.iloc[:, 1].to_numpy()
    risk = -frame["score"].to_numpy(dtype="float64")  # lower score = riskier
    auc = roc_auc_score(bad, risk, sample_weight=frame["n"])
    fpr, tpr, _ = roc_curve(bad, risk, sample_weight=frame["n"])
    return {"auc": float(auc), "gini": float(2 * auc - 1), "ks": float(np.max(tpr - fpr))}


def back_test(
    monitored_model: dict[str, str],
    manifest: dict[str, Any],
    monitoring: dict[str, Any],
    storage: dict[str, Any],
    engine: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Observed vs predicted default rate by band, and discrimination figures with status."""
    spec = monitoring["outcomes"]
    if not spec.get("path"):
        logger.info("No outcomes table (monitoring.outcomes.path): back-test skipped")
        return pd.DataFrame(columns=BACKTEST_COLUMNS), pd.DataFrame(columns=FIGURE_COLUMNS)
    model = worker_model(monitored_model["uri"], monitored_model["tracking_uri"])
    id_column, defaulted = contract_of_scoring_model(model).id.name, spec["defaulted_column"]
    with dask_client(engine):
        options = storage.get("storage_options") or {}
        joined = _joined_outcomes(monitoring, manifest, id_column, options)
        bad_values = joined[defaulted].dropna().unique()
        by_band = joined.groupby("band").agg({"pd": ["count", "sum"], defaulted: "sum"})
        by_score = joined.groupby(["score", defaulted]).size()
        bad_values, by_band, by_score = dask.compute(bad_values, by_band, by_score)
    unexpected = sorted(set(pd.Series(bad_values).tolist()) - {0, 1})
    if unexpected:
        raise ValueError(f"outcomes.{defaulted}: values {unexpected[:5]} are not 0 or 1")
    by_band.columns = ["applicants", "predicted", "defaults"]
    table = pd.concat([by_band.sort_index(), by_band.sum().to_frame("all").T])
    table = pd.DataFrame(
        {
            "segment": table.index.astype(str),
            "applicants": table["applicants"].astype("int64").to_numpy(),
            "defaults": table["defaults"].astype("int64").to_numpy(),
            "predicted_default_rate": (table["predicted"] / table["applicants"]).to_numpy(),
            "observed_default_rate": (table["defaults"] / table["applicants"]).to_numpy(),
        }
    )
    table["difference"] = table["observed_default_rate"] - table["predicted_default_rate"]
    return table, _backtest_figures(table, _discrimination(by_score), monitored_model, monitoring)


def _backtest_figures(
    table: pd.DataFrame, found: dict[str, float], model: dict[str, str], monitoring: dict
) -> pd.DataFrame:
    """AUC drop against the model's test AUC and the overall calibration gap, with status."""
    limits = monitoring["thresholds"]
    client = mlflow.MlflowClient(model["tracking_uri"])
    test_auc = client.get_run(model["run_id"]).data.metrics.get("test_auc", found["auc"])
    overall = table.iloc[-1]
    rows = [
        _figure("auc_drop", "backtest", max(test_auc - found["auc"], 0.0), limits["auc_drop"]),
        _figure(
            "calibration_gap", "backtest", abs(overall["difference"]), limits["calibration_gap"]
        ),
    ]
    frame = pd.DataFrame(rows, columns=FIGURE_COLUMNS)
    extra = pd.DataFrame(
        [{"figure": k, "kind": "backtest", "value": v, "status": "info"} for k, v in found.items()]
    )
    return pd.concat([frame, extra], ignore_index=True)


# ----------------------------------------------------------------------------- outputs


def combine_figures(stability: pd.DataFrame, backtest_figures: pd.DataFrame) -> pd.DataFrame:
    """Every monitored figure in one table (stability first, then back-testing)."""
    frames = [f for f in (stability, backtest_figures) if len(f)]
    return pd.concat(frames, ignore_index=True)[FIGURE_COLUMNS]


def overall_status(figures: pd.DataFrame) -> str:
    """The worst status of any figure that has thresholds."""
    ranked = [STATUSES.index(s) for s in figures["status"] if s in STATUSES]
    return STATUSES[max(ranked, default=0)]


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-able dicts, missing values as null (never NaN)."""
    return table.astype(object).where(table.notna(), None).to_dict(orient="records")


def summarise_monitoring(
    figures: pd.DataFrame,
    backtest: pd.DataFrame,
    reference: dict[str, Any],
    monitored_model: dict[str, str],
    manifest: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, dict]]:
    """The run's summary (everything the Monitoring page shows) and its MLflow metrics."""
    flagged = figures[figures["status"].isin(["monitor", "shift"])]
    summary = {
        "status": overall_status(figures),
        "model": {k: monitored_model[k] for k in ("uri", "name", "version", "run_id")},
        "book": manifest["output"],
        "rows": manifest["rows_scored"],
        "flagged": dict(zip(flagged["figure"], flagged["status"], strict=True)),
        "figures": _records(figures),
        "backtest": _records(backtest),
        "score_distribution": {
            "development": reference["score"],
            "book": manifest["profile"]["score"],
        },
    }
    metrics = {
        f"{row.kind}_{row.figure}": {"value": float(row.value), "step": 0}
        for row in figures.itertuples()
    }
    mlflow_status = {"status_level": {"value": float(STATUSES.index(summary["status"])), "step": 0}}
    if mlflow.active_run() is not None:
        mlflow.set_tag("quantumfinance.monitoring_status", summary["status"])
    return summary, {**metrics, **mlflow_status}


def plot_stability(figures: pd.DataFrame) -> Figure:
    """PSI/CSI per figure as bars coloured by status, with the thresholds drawn."""
    shown = figures[figures["kind"].isin(["psi", "csi"])]
    colours = {"stable": "tab:green", "monitor": "tab:orange", "shift": "tab:red"}
    fig = Figure(figsize=(7, 0.35 * len(shown) + 1.5))
    ax = fig.subplots()
    ax.barh(shown["figure"], shown["value"], color=[colours[s] for s in shown["status"]])
    for level, style in (("monitor", "--"), ("shift", ":")):
        ax.axvline(float(shown[level].iloc[0]), color="grey", linestyle=style, label=level)
    ax.set_xlabel("PSI / CSI against the development sample")
    ax.invert_yaxis()
    ax.legend()
    fig.tight_layout()
    return fig


def plot_monitoring(
    figures: pd.DataFrame, reference: dict[str, Any], manifest: dict[str, Any]
) -> tuple[Figure, Figure, list[str]]:
    """The stability bars and the overlaid score distributions (and their names)."""
    plots = plot_stability(figures), plot_score_distributions(reference, manifest)
    return *plots, ["monitoring_stability_plot", "monitoring_score_plot"]


def plot_score_distributions(reference: dict[str, Any], manifest: dict[str, Any]) -> Figure:
    """Score distribution of the development sample and of the book, overlaid (shares)."""
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    for label, counts in (
        ("development", reference["score"]),
        ("book", manifest["profile"]["score"]),
    ):
        series = pd.Series(counts, dtype="float64").rename(index=int).sort_index()
        ax.bar(series.index, series / series.sum(), width=1.0, alpha=0.5, label=label)
    ax.set_xlabel("score")
    ax.set_ylabel("share of applicants")
    ax.legend()
    fig.tight_layout()
    return fig


def enforce_fail_on(summary: dict[str, Any], fail_on: str | None, plotted: list[str]) -> None:
    """Raise (the run exits non-zero) when a figure reached ``fail_on`` (monitor or shift).

    ``plotted`` only orders this node after the plots, so an alert comes with every artifact."""
    if not fail_on:
        return
    if fail_on not in STATUSES[1:]:
        raise ValueError(f"monitoring.fail_on {fail_on!r}: expected monitor, shift or null")
    worst = STATUSES.index(summary["status"])
    if worst >= STATUSES.index(fail_on):
        raise MonitoringAlert(
            f"monitoring status {summary['status']} (fail_on: {fail_on}); flagged: "
            + ", ".join(f"{k} ({v})" for k, v in summary["flagged"].items())
        )
