"""Reporting nodes: plots and tables from the data_science outputs, and the model card."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from quantumfinance.columns import frame_columns
from quantumfinance.contract import ApplicantContract
from quantumfinance.scoring import ScoringModel, inspect

EPSILON = 1e-6  # floor for empty PSI buckets so that ln() stays finite
TARGET_COLUMN = "observed_default"  # the contract's target, 1 = bad, in every outcome table
MISSING_GROUP = "(missing)"
FAIRNESS_HEADINGS = {  # fairness.csv's columns as the card's table heads them
    "applicants": "n",
    "mean_score": "mean score",
    "approval_rate": "approved",
    "observed_default_rate": "default rate",
    "mean_pd": "mean PD",
}
FAIRNESS_FORMATS = {"mean score": ".1f", "approved": ".2f", "default rate": ".2f", "mean PD": ".2f"}


def outcome_scores(
    applicants: pd.DataFrame, scored: pd.DataFrame, applicant_contract: ApplicantContract
) -> pd.DataFrame:
    """The pipeline's scores next to each applicant's observed outcome and protected attributes."""
    if len(applicants) != len(scored):
        raise ValueError(
            f"applicants ({len(applicants)}) and scores ({len(scored)}) differ in rows"
        )
    contract = applicant_contract
    keep = [contract.id.name, *(c.name for c in contract.protected), contract.target.name]
    outcomes = applicants[keep].rename(columns={contract.target.name: TARGET_COLUMN})
    # Reason lists are not figures; older scored tables have no positive_factors column.
    figures = scored.drop(columns=["reason_codes", "positive_factors"], errors="ignore")
    return pd.concat([outcomes.reset_index(drop=True), figures], axis=1)


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


def calibration_plot(calibration: pd.DataFrame, metrics: dict[str, float]) -> Figure:
    """Reliability diagram: observed default rate against the served (calibrated) PD."""
    title = f"Reliability (test split, Brier {metrics['test_brier']:.3f})"
    fig, ax = _figure(title, "Mean predicted PD", "Observed default rate")
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


def score_psi(train_scores: pd.Series, test_scores: pd.Series, buckets: int) -> float:
    """PSI of the score between two portfolios, in buckets of the first one's quantiles."""
    edges = np.unique(np.quantile(train_scores, np.linspace(0, 1, buckets + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    return _psi(
        pd.cut(train_scores, edges).value_counts(normalize=True),
        pd.cut(test_scores, edges).value_counts(normalize=True),
    )


def _status(psi: float, bands: dict[str, float]) -> str:
    return "stable" if psi < bands["monitor"] else "monitor" if psi < bands["shift"] else "shift"


def model_bins(scoring_model: ScoringModel, applicants: pd.DataFrame) -> pd.DataFrame:
    """The scorecard bin (optbinning's index) of every applicant's value of each characteristic,
    as the scoring runtime assigns it; rows that break the contract are left out."""
    inspection = inspect(scoring_model, frame_columns(applicants, scoring_model.feature_names))
    slots = inspection.checked.slots[inspection.ok]
    return pd.DataFrame(
        {f.name: f.bin_index[slots[:, j]] for j, f in enumerate(scoring_model.features)}
    )


def population_stability(
    scored_train: pd.DataFrame,
    scored_test: pd.DataFrame,
    applicants_train: pd.DataFrame,
    applicants_test: pd.DataFrame,
    scoring_model: ScoringModel,
    psi: dict[str, Any],
) -> pd.DataFrame:
    """PSI train vs test for the score (train-decile buckets) and each characteristic (WoE bins)."""
    rows = [
        {
            "variable": "score",
            "psi": score_psi(scored_train["score"], scored_test["score"], psi["score_buckets"]),
        }
    ]
    train_bins = model_bins(scoring_model, applicants_train)
    test_bins = model_bins(scoring_model, applicants_test)
    for name in scoring_model.feature_names:
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


def _groups(values: pd.Series, characteristic, quantile_bands: int) -> pd.Series:
    """Fairness groups of one protected attribute: its categories, or bands of a number (the
    contract's ``fairness_bands`` edges, else quantile bands)."""
    if characteristic.is_categorical:
        return values.astype(object).where(values.notna(), MISSING_GROUP).astype(str)
    edges = characteristic.fairness_bands
    if edges:
        labels = [f"{lo:g}-{hi - 1:g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
        banded = pd.cut(values, [*edges, np.inf], right=False, labels=[*labels, f"{edges[-1]:g}+"])
    else:
        banded = pd.qcut(values, quantile_bands, duplicates="drop")
    return banded.astype(str).where(values.notna(), MISSING_GROUP)


def fairness_table(
    outcomes: pd.DataFrame, applicant_contract: ApplicantContract, fairness: dict[str, Any]
) -> pd.DataFrame:
    """Mean score, approval rate, observed default rate and mean PD per group of every protected
    attribute of the contract (an empty table when the contract declares none)."""
    tables = [
        _group_summary(outcomes, _groups(outcomes[c.name], c, fairness["quantile_bands"]), c.name)
        for c in applicant_contract.protected
    ]
    columns = [
        "attribute",
        "group",
        "applicants",
        "mean_score",
        "approval_rate",
        "observed_default_rate",
        "mean_pd",
    ]
    if not tables:
        return pd.DataFrame(columns=columns)
    return pd.concat(tables, ignore_index=True)[columns]


def _markdown(table: pd.DataFrame, floatfmt: str = ".3f", formats: dict | None = None) -> str:
    """A Markdown table without the optional `tabulate` dependency (``formats``: per column)."""
    head = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    fmts = [(formats or {}).get(c, floatfmt) for c in table.columns]

    def cell(v: Any, fmt: str) -> str:
        return format(v, fmt) if isinstance(v, float) else str(v)

    return head + "\n".join(
        "| " + " | ".join(cell(v, f) for v, f in zip(row, fmts, strict=True)) + " |"
        for row in table.itertuples(index=False)
    )


def _data_source(ingest: dict[str, Any], data_quality: dict[str, Any]) -> str:
    """Where the rows came from, as the run read them."""
    if ingest.get("source") == "synthetic":
        reference = (
            f", drawn from the marginals of `{ingest['path']}`" if ingest.get("path") else ""
        )
        return (
            f"synthetic applicants (`quantumfinance.synthetic`, seed {ingest['seed']}{reference})"
        )
    return f"the file `{ingest.get('path')}`"


def _interval(metrics: dict[str, float], key: str, digits: int = 3) -> str:
    """'mean [lo, hi]' of a figure with its 95 % interval."""
    return (
        f"{metrics[key]:.{digits}f} [{metrics[key + '_lo']:.{digits}f}, "
        f"{metrics[key + '_hi']:.{digits}f}]"
    )


def _candidates(metrics: dict[str, float]) -> list[str]:
    """Candidate names present in the metrics, in the order the run reported them."""
    return [k.removeprefix("test_auc_") for k in metrics if k.startswith("test_auc_")]


def _selection(r: pd.Series) -> str:
    """A candidate's outcome under the selection rule, as the card's last column."""
    if bool(r["chosen"]):
        return "**chosen** (forced)" if bool(r.get("forced", False)) else "**chosen**"
    if pd.isna(r["gain_of_best"]):
        return "not eligible"
    beaten = r["beaten_beyond_noise_by"]
    return f"beaten by {beaten}" if isinstance(beaten, str) and beaten else "within the noise"


def _gain_of_best(r: pd.Series) -> str:
    """The best candidate's paired CV gain over this one, with its interval."""
    gain, lo, hi = r["gain_of_best"], r["gain_of_best_lo"], r["gain_of_best_hi"]
    if pd.isna(gain):
        return ""
    return "(best)" if gain == lo == hi == 0 else f"{gain:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def _performance(metrics: dict[str, float], comparison: pd.DataFrame) -> pd.DataFrame:
    """CV figures with intervals and test figures of every candidate (simplest first), and what
    the selection rule made of each (the best candidate's paired CV gain over it)."""
    rule = comparison.set_index("model")
    listed = _candidates(metrics)
    rows = []
    for name in [n for n in rule.index if n in listed] + [n for n in listed if n not in rule.index]:
        known = name in rule.index
        rows.append(
            {
                "model": name,
                **{f"cv {m}": _interval(metrics, f"cv_{m}_{name}") for m in ("auc", "brier")},
                **{f"test {m}": metrics[f"test_{m}_{name}"] for m in ("auc", "brier")},
                "best's cv gain": _gain_of_best(rule.loc[name]) if known else "",
                "selection": _selection(rule.loc[name]) if known else "not eligible",
            }
        )
    return pd.DataFrame(rows)


def _policy_lines(policy: dict[str, Any]) -> list[str]:
    """The model's bands: score floor, the PD it stands for, decision; how they were set."""
    bands = [
        f"{b['name']} ≥ {b['min_score']:g} (PD ≤ {b['max_pd']:.1%}) {policy['decisions'][b['name']]}"
        for b in policy["bands"][:-1]
    ]
    last = policy["bands"][-1]
    bands.append(f"{last['name']} below: {policy['decisions'][last['name']]}")
    how = policy.get("derived_from") or "score floors as configured"
    return [f"- {'; '.join(bands)}. {how}."]


def _goals(metrics: dict[str, float], goals: dict[str, Any]) -> list[str]:
    """Each goal of issue 13 with the figure that meets it or not."""
    lo, hi = goals["calibration_slope"]
    rows = [
        (
            f"Chosen model's mean CV AUC ≥ {goals['cv_auc']:.2f}",
            _interval(metrics, "cv_auc"),
            metrics["cv_auc"] >= goals["cv_auc"],
        ),
        (
            f"CV calibration slope within {lo}–{hi}",
            _interval(metrics, "cv_calibration_slope"),
            lo <= metrics["cv_calibration_slope"] <= hi,
        ),
        (
            f"CV calibration-in-the-large within ±{goals['max_citl_points']:g} point",
            _interval(metrics, "cv_citl_points", 2) + " points",
            abs(metrics["cv_citl_points"]) <= goals["max_citl_points"],
        ),
    ]
    return [f"- {goal}: {figure} — **{'met' if ok else 'not met'}**" for goal, figure, ok in rows]


def plain_text(value: Any) -> str:
    """A configured or recorded value as a reader's text, never a Python repr: floats to 4
    places, lists joined, a mapping (e.g. a YAML line with an unquoted ": ") as "key: value"."""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, dict):
        return "; ".join(f"{plain_text(k)}: {plain_text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(plain_text(v) for v in value)
    return str(value)


def portfolio_texts(
    card: dict[str, Any], contract: ApplicantContract, env_file: str
) -> dict[str, list[str]]:
    """The card's data description, intended use and limitations, when the configuration was
    written for this portfolio (``model_card.portfolio`` = the contract's portfolio name); else
    one line saying where to write them, so no portfolio's card carries another's sentences."""
    if card.get("portfolio") != contract.portfolio.name:
        missing = (
            f"Not configured for {contract.portfolio.name}: set reporting.model_card "
            f"(portfolio: {contract.portfolio.name!r}, data_description, intended_use, "
            f"limitations) in {env_file}."
        )
        return {"data_description": [], "intended_use": [missing], "limitations": [missing]}

    def lines(key: str) -> list[str]:
        value = card.get(key) or []
        return [plain_text(v) for v in (value if isinstance(value, list) else [value])]

    return {key: lines(key) for key in ("data_description", "intended_use", "limitations")}


def _gate_lines(decision: dict[str, Any]) -> list[str]:
    """The promotion gate's decision and evidence, as the gate recorded it."""
    if decision.get("promoted") is None:
        return [f"- {decision.get('reason', 'no decision recorded')}"]
    outcome = (
        "not registered (identical to the champion)"
        if decision.get("identical")
        else "promoted to champion"
        if decision["promoted"]
        else "kept as challenger"
    )
    evidence = decision.get("evidence", {})
    shown = {
        k: v
        for k, v in evidence.items()
        if k not in ("model_digest", "champion_digest") and v is not None
    }
    figures = ", ".join(f"{k} {plain_text(v)}" for k, v in shown.items())
    return [
        f"- Version {decision['version'] or '(none)'}: **{outcome}**. {decision['reason']}.",
        f"- Evidence: {figures}." if figures else "- Evidence: none.",
        f"- Model digest: `{str(evidence.get('model_digest', '-'))[:16]}`.",
    ]


def model_card(
    metrics: dict[str, float],
    chosen_model: str,
    stability: pd.DataFrame,
    fairness: pd.DataFrame,
    applicants_train: pd.DataFrame,
    applicants_test: pd.DataFrame,
    data_quality: dict[str, Any],
    applicant_contract: ApplicantContract,
    ingest: dict[str, Any],
    card: dict[str, Any],
    promotion_decision: dict[str, Any],
    cv: dict[str, Any],
    candidate_comparison: pd.DataFrame,
    scoring_model: ScoringModel,
) -> str:
    """The model card (Markdown) of this run: data, metrics with intervals next to the baseline,
    calibration, goals, the gate's decision, use, limits."""
    contract = applicant_contract
    shifted = stability[stability["status"] != "stable"]
    both = pd.concat([applicants_train, applicants_test])
    default_rate = float(both[contract.target.name].mean())
    excluded = [c.name for c in contract.characteristics if not c.use_in_model]
    protected = ", ".join(f"`{c.name}`" for c in contract.protected)
    method = "isotonic" if metrics["calibration_isotonic"] else "Platt"
    folds = f"{cv['n_splits']}-fold × {cv['n_repeats']}"
    texts = portfolio_texts(card, contract, "the env's parameters_reporting.yml")
    lines = [
        f"# Model card: {card['model_name']} — {contract.portfolio.name}",
        "",
        f"Generated by the `reporting` pipeline on {dt.date.today().isoformat()} from the "
        f"`data_science` run's outputs ({card.get('reports_dir', '08_reporting')}).",
        "",
        "## Model",
        f"- Chosen: **{chosen_model}**, "
        + (
            "forced by `model_selection.force` (a what-if run: the rule's table below)."
            if bool(candidate_comparison.get("forced", pd.Series([False])).any())
            else "the simplest candidate that no other beats beyond the noise on the same CV "
            "folds (decision record 0010; table below, simplest first)."
        ),
        "- Candidates: scorecard (optbinning WoE + L2 logistic), challenger (monotone gradient "
        "boosting), blend (of the two), baseline (one-hot logistic).",
        f"- Inputs: the {len(contract.features)} characteristics of the applicant contract "
        f"(contract {contract.digest[:12]}, logged with the model)"
        + (f"; excluded from the model: {', '.join(excluded)}." if excluded else "."),
        "",
        "## Decision policy",
        *_policy_lines(scoring_model.policy.as_parameters()),
        "",
        "## Data",
        f"- Portfolio: {contract.portfolio.name}. {contract.portfolio.description}".rstrip(),
        *([f"- Source: {contract.portfolio.source}"] if contract.portfolio.source else []),
        *[f"- {line}" for line in texts["data_description"]],
        f"- This run read {data_quality['rows_in']:,} applicants from "
        f"{_data_source(ingest, data_quality)}; {data_quality['rows_quarantined']:,} were "
        f"quarantined by validation, {data_quality['rows_valid']:,} used.",
        f"- Training split: {len(applicants_train):,} applicants; test split: "
        f"{len(applicants_test):,}; overall default rate {default_rate:.1%} "
        f"({int(both[contract.target.name].sum()):,} defaults).",
        "",
        f"## Performance (CV: {folds} folds of the training split, mean [95 % interval])",
        "",
        _markdown(_performance(metrics, candidate_comparison)),
        "",
        f"## Calibration ({method}, fitted on the chosen model's out-of-fold CV PDs; mean [95 % "
        "interval])",
        f"- CV calibration slope {_interval(metrics, 'cv_calibration_slope')} (raw PDs: "
        f"{metrics['cv_calibration_slope_oof_uncalibrated']:.3f}); calibration-in-the-large "
        f"{_interval(metrics, 'cv_citl_points', 2)} points; Brier "
        f"{_interval(metrics, 'cv_brier_oof')} (raw PDs: "
        f"{metrics['cv_brier_oof_uncalibrated']:.3f}).",
        f"- Test split: slope {metrics['test_calibration_slope']:.3f}, calibration-in-the-large "
        f"{metrics['test_citl_points']:+.2f} points, Brier {metrics['test_brier']:.3f} "
        "(reliability plot).",
        "",
        "## Goals",
        *_goals(metrics, card["goals"]),
        "",
        "## Promotion gate",
        *_gate_lines(promotion_decision),
        "",
        "## Stability (PSI train vs test; < 0.10 stable, 0.10–0.25 monitor, > 0.25 shift)",
        f"- Score PSI {stability.loc[stability['variable'] == 'score', 'psi'].iloc[0]:.3f}; "
        f"characteristics not stable: {', '.join(shifted['variable']) or 'none'}.",
        "",
        "## Fairness (test split)",
        "",
        *(
            [
                f"By the contract's protected attributes ({protected}):",
                "",
                _markdown(fairness.rename(columns=FAIRNESS_HEADINGS), formats=FAIRNESS_FORMATS),
            ]
            if len(fairness)
            else ["The contract declares no protected attribute: no fairness groups are reported."]
        ),
        "",
        "## Intended use",
        *[f"- {line}" for line in texts["intended_use"]],
        "",
        "## Limitations",
        *[f"- {line}" for line in texts["limitations"]],
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
