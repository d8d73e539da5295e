"""Reporting nodes: plots and tables from the data_science outputs, and the model card."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from quantumfinance.applicant_schema import FEATURE_COLUMNS, TARGET_COLUMN

EPSILON = 1e-6  # floor for empty PSI buckets so that ln() stays finite


def outcome_scores(applicants: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    """The pipeline's scores next to each applicant's observed outcome and protected attributes."""
    if len(applicants) != len(scored):
        raise ValueError(
            f"applicants ({len(applicants)}) and scores ({len(scored)}) differ in rows"
        )
    keep = ["applicant_id", "age", "personal_status_sex", TARGET_COLUMN]
    return pd.concat(
        [applicants[keep].reset_index(drop=True), scored.drop(columns="reason_codes")], axis=1
    )


def roc_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """ROC curve points (false/true positive rate) of the PD on the test split."""
    fpr, tpr, _ = roc_curve(outcomes[TARGET_COLUMN], outcomes["pd"])
    return pd.DataFrame({"false_positive_rate": fpr, "true_positive_rate": tpr})


def ks_table(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Cumulative share of bads and goods below each score, and their gap (KS)."""
    by_score = outcomes.groupby("score")[TARGET_COLUMN].agg(bads="sum", total="count")
    goods = by_score["total"] - by_score["bads"]
    table = pd.DataFrame(
        {
            "score": by_score.index,
            "cumulative_bad_share": (by_score["bads"].cumsum() / by_score["bads"].sum()).values,
            "cumulative_good_share": (goods.cumsum() / goods.sum()).values,
        }
    )
    return table.assign(ks=table["cumulative_bad_share"] - table["cumulative_good_share"])


def calibration_table(outcomes: pd.DataFrame, n_bins: int) -> pd.DataFrame:
    """Mean predicted PD against the observed default rate per PD quantile bucket."""
    buckets = pd.qcut(outcomes["pd"].rank(method="first"), n_bins, labels=False)
    table = outcomes.groupby(buckets).agg(
        predicted_pd=("pd", "mean"), observed_default_rate=(TARGET_COLUMN, "mean"), n=("pd", "size")
    )
    return table.reset_index(names="bucket")


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Any]:
    # A bare Figure needs no pyplot backend: headless-safe, and importing this module (as
    # `%load_ext kedro.ipython` does) leaves a notebook's inline backend alone.
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def roc_plot(roc: pd.DataFrame, metrics: dict[str, float]) -> Figure:
    """ROC curve with the test AUC."""
    fig, ax = _figure("ROC (test split)", "False positive rate", "True positive rate")
    ax.plot(
        roc["false_positive_rate"],
        roc["true_positive_rate"],
        label=f"AUC {metrics['test_auc']:.3f}",
    )
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.legend(loc="lower right")
    return fig


def ks_plot(ks: pd.DataFrame) -> Figure:
    """Cumulative bad and good shares by score, with the KS gap."""
    fig, ax = _figure("KS (test split)", "Score", "Cumulative share")
    ax.plot(ks["score"], ks["cumulative_bad_share"], label="bads")
    ax.plot(ks["score"], ks["cumulative_good_share"], label="goods")
    at = ks["ks"].idxmax()
    ax.vlines(
        ks.loc[at, "score"],
        ks.loc[at, "cumulative_good_share"],
        ks.loc[at, "cumulative_bad_share"],
        color="red",
        label=f"KS {ks.loc[at, 'ks']:.3f}",
    )
    ax.legend()
    return fig


def calibration_plot(calibration: pd.DataFrame) -> Figure:
    """Reliability diagram: observed default rate against predicted PD."""
    fig, ax = _figure("Calibration (test split)", "Mean predicted PD", "Observed default rate")
    ax.plot(calibration["predicted_pd"], calibration["observed_default_rate"], marker="o")
    top = float(max(calibration["predicted_pd"].max(), calibration["observed_default_rate"].max()))
    ax.plot([0, top], [0, top], linestyle="--", color="grey")
    return fig


def score_distribution_plot(outcomes: pd.DataFrame) -> Figure:
    """Score histograms of good and bad applicants."""
    fig, ax = _figure("Score by outcome (test split)", "Score", "Applicants")
    bins = np.linspace(outcomes["score"].min(), outcomes["score"].max(), 30)
    for flag, label in ((0, "good"), (1, "bad (default)")):
        ax.hist(
            outcomes.loc[outcomes[TARGET_COLUMN] == flag, "score"],
            bins=bins,
            alpha=0.6,
            label=label,
        )
    ax.legend()
    return fig


def _psi(expected: pd.Series, actual: pd.Series) -> float:
    """Population stability index between two bucket-share distributions."""
    shares = pd.concat([expected, actual], axis=1).fillna(0).clip(lower=EPSILON)
    e, a = shares.iloc[:, 0], shares.iloc[:, 1]
    return float(((a - e) * np.log(a / e)).sum())


def _status(psi: float, bands: dict[str, float]) -> str:
    return "stable" if psi < bands["monitor"] else "monitor" if psi < bands["shift"] else "shift"


def population_stability(
    scored_train: pd.DataFrame,
    scored_test: pd.DataFrame,
    applicants_train: pd.DataFrame,
    applicants_test: pd.DataFrame,
    credit_model: Any,
    psi: dict[str, Any],
) -> pd.DataFrame:
    """PSI train vs test for the score (train-decile buckets) and each characteristic (WoE bins)."""
    edges = np.unique(
        np.quantile(scored_train["score"], np.linspace(0, 1, psi["score_buckets"] + 1))
    )
    edges[0], edges[-1] = -np.inf, np.inf
    rows = [
        {
            "variable": "score",
            "psi": _psi(
                pd.cut(scored_train["score"], edges).value_counts(normalize=True),
                pd.cut(scored_test["score"], edges).value_counts(normalize=True),
            ),
        }
    ]
    binning = credit_model.scorecard.named_steps["woe"]
    train_bins = binning.transform(applicants_train[list(FEATURE_COLUMNS)], metric="indices")
    test_bins = binning.transform(applicants_test[list(FEATURE_COLUMNS)], metric="indices")
    for name in FEATURE_COLUMNS:
        rows.append(
            {
                "variable": name,
                "psi": _psi(
                    pd.Series(train_bins[name]).value_counts(normalize=True),
                    pd.Series(test_bins[name]).value_counts(normalize=True),
                ),
            }
        )
    table = pd.DataFrame(rows)
    return table.assign(status=[_status(v, psi["bands"]) for v in table["psi"]])


def _group_summary(outcomes: pd.DataFrame, group: pd.Series, attribute: str) -> pd.DataFrame:
    summary = outcomes.groupby(group, observed=True).agg(
        applicants=("score", "size"),
        mean_score=("score", "mean"),
        approval_rate=("decision", lambda d: float((d == "approve").mean())),
        observed_default_rate=(TARGET_COLUMN, "mean"),
        mean_pd=("pd", "mean"),
    )
    return summary.reset_index(names="group").assign(attribute=attribute)


def fairness_table(outcomes: pd.DataFrame, fairness: dict[str, Any]) -> pd.DataFrame:
    """Mean score and approval rate by age band, 62+ against the rest, and personal status/sex."""
    edges = fairness["age_band_edges"]
    labels = [f"{lo}-{hi - 1}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)] + [
        f"{edges[-1]}+"
    ]
    age_band = pd.cut(outcomes["age"], [*edges, np.inf], right=False, labels=labels)
    senior = fairness["senior_age"]
    is_senior = np.where(outcomes["age"] >= senior, f"{senior}+", f"under {senior}")
    table = pd.concat(
        [
            _group_summary(outcomes, age_band.astype(str), "age_band"),
            _group_summary(
                outcomes, pd.Series(is_senior, index=outcomes.index), f"age {senior}+ vs rest"
            ),
            _group_summary(outcomes, outcomes["personal_status_sex"], "personal_status_sex"),
        ],
        ignore_index=True,
    )
    return table[
        [
            "attribute",
            "group",
            "applicants",
            "mean_score",
            "approval_rate",
            "observed_default_rate",
            "mean_pd",
        ]
    ]


def _markdown(table: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A Markdown table without the optional `tabulate` dependency."""
    head = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"

    def cell(v: Any) -> str:
        return format(v, floatfmt) if isinstance(v, float) else str(v)

    return head + "\n".join(
        "| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)
    )


def model_card(
    metrics: dict[str, float],
    chosen_model: str,
    stability: pd.DataFrame,
    fairness: pd.DataFrame,
    applicants_train: pd.DataFrame,
    applicants_test: pd.DataFrame,
    card: dict[str, Any],
) -> str:
    """The model card (Markdown) of this run: data, metrics next to the baseline, use, limits."""
    perf = pd.DataFrame(
        [
            {
                "model": name,
                **{f"cv {m}": metrics[f"cv_{m}_{name}"] for m in ("auc", "gini", "ks", "brier")},
                **{f"test {m}": metrics[f"test_{m}_{name}"] for m in ("auc", "ks", "brier")},
            }
            for name in ("scorecard", "challenger", "baseline")
        ]
    )
    shifted = stability[stability["status"] != "stable"]
    senior = fairness[
        fairness["attribute"].str.startswith("age ") & fairness["attribute"].str.endswith("vs rest")
    ]
    default_rate = float(pd.concat([applicants_train, applicants_test])[TARGET_COLUMN].mean())
    lines = [
        f"# Model card: {card['model_name']}",
        "",
        f"Generated by the `reporting` pipeline on {dt.date.today().isoformat()} from the "
        "`data_science` run's outputs (data/08_reporting).",
        "",
        "## Model",
        f"- Chosen candidate: **{chosen_model}** (rule in `parameters_data_science.yml` "
        "`model_selection`, on 5-fold CV of the training split; the test split is never used to choose).",
        "- Scorecard: optbinning WoE binning (monotonic trends where credit sense dictates, "
        "missing/special bins) + logistic regression, scaled with PDO / base score / base odds.",
        "- Challenger: scikit-learn HistGradientBoosting on the same split. Baseline: one-hot "
        "logistic regression, evaluated by the same code.",
        "- Output per applicant: PD, score (points), band, decision (approve/review/decline) "
        "and up to 4 reason codes ranked by points lost against the best bin.",
        "",
        "## Data",
        f"- {card['data_description']}",
        f"- Training split: {len(applicants_train):,} applicants; test split: "
        f"{len(applicants_test):,}; overall default rate {default_rate:.1%}.",
        "",
        "## Performance (CV = mean of stratified 5-fold CV on the training split)",
        "",
        _markdown(perf),
        "",
        f"Goals: best CV AUC ≥ 0.80, scorecard CV AUC ≥ 0.79. Achieved: best "
        f"{max(metrics['cv_auc_scorecard'], metrics['cv_auc_challenger']):.3f}, scorecard "
        f"{metrics['cv_auc_scorecard']:.3f}.",
        "",
        "## Stability (PSI train vs test; < 0.10 stable, 0.10–0.25 monitor, > 0.25 shift)",
        f"- Score PSI {stability.loc[stability['variable'] == 'score', 'psi'].iloc[0]:.3f}; "
        f"characteristics not stable: {', '.join(shifted['variable']) or 'none'}.",
        "",
        "## Fairness (test split)",
        "",
        _markdown(
            senior[["group", "applicants", "mean_score", "approval_rate", "observed_default_rate"]]
        ),
        "",
        "Full table by age band and personal status/sex: `data/08_reporting/fairness.csv`.",
        "",
        "## Intended use",
        f"- {card['intended_use']}",
        "",
        "## Limitations",
        *[f"- {item}" for item in card["limitations"]],
        "",
    ]
    return "\n".join(lines)


def reporting_metrics(metrics: dict[str, float], stability: pd.DataFrame) -> dict[str, float]:
    """Headline figures for `dvc metrics` next to the model metrics."""
    return {
        "test_auc": metrics["test_auc"],
        "test_ks": metrics["test_ks"],
        "score_psi": float(stability.loc[stability["variable"] == "score", "psi"].iloc[0]),
        "max_characteristic_psi": float(
            stability.loc[stability["variable"] != "score", "psi"].max()
        ),
    }
