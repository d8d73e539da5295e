"""Nodes of the data_engineering pipeline.

Rows in = validated + quarantined: every raw applicant ends up in exactly one of the two, and
every quarantined row names each check it failed.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from sklearn.model_selection import train_test_split

from quantumfinance.contract import ApplicantContract

from .validation import check_table_structure, row_failures, to_contract_types

logger = logging.getLogger(__name__)

REASONS_COLUMN = "quarantine_reasons"
WORST_CHECKS_SHOWN = 5


def validate_applicants(
    raw_applicants: pd.DataFrame, applicant_contract: ApplicantContract
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Split raw applicants into valid (typed) and quarantined rows, plus a data-quality report."""
    extra_columns = check_table_structure(raw_applicants, applicant_contract)
    raw = raw_applicants.reset_index(drop=True)
    failures = row_failures(raw, applicant_contract)
    reasons = failures.groupby("row")["reason"].agg("; ".join)
    quarantined = raw.loc[reasons.index].assign(**{REASONS_COLUMN: reasons.to_numpy()})
    # Parquet needs one type per column; a mixed object column is kept as text for reviewers.
    quarantined = quarantined.astype(
        {c: "str" for c in quarantined if quarantined[c].dtype == object}
    )
    screened = to_contract_types(raw.drop(index=reasons.index), applicant_contract)
    report = {
        "rows_in": len(raw),
        "rows_valid": len(screened),
        "rows_quarantined": len(quarantined),
        "quarantined_fraction": round(len(quarantined) / len(raw), 6),
        "failed_checks": failures["reason"].value_counts().to_dict(),
        "ignored_columns": extra_columns,
    }
    if extra_columns:
        logger.warning("Ignoring columns outside the applicant contract: %s", extra_columns)
    logger.info("Validated %d applicants, quarantined %d", len(screened), len(quarantined))
    return screened, quarantined.reset_index(drop=True), report


def enforce_quarantine_limit(
    screened_applicants: pd.DataFrame, data_quality: dict[str, Any], max_quarantine_fraction: float
) -> pd.DataFrame:
    """Pass the valid applicants on, or fail when too large a share was quarantined."""
    if data_quality["quarantined_fraction"] > max_quarantine_fraction:
        worst = list(data_quality["failed_checks"].items())[:WORST_CHECKS_SHOWN]
        raise ValueError(
            f"{data_quality['rows_quarantined']} of {data_quality['rows_in']} applicants "
            f"({data_quality['quarantined_fraction']:.1%}) failed validation, above "
            f"max_quarantine_fraction={max_quarantine_fraction}. Worst checks: "
            + ", ".join(f"{name} ({count} rows)" for name, count in worst)
            + ". See quarantined_applicants and data_quality_report."
        )
    return screened_applicants


def split_applicants(
    validated_applicants: pd.DataFrame,
    applicant_contract: ApplicantContract,
    test_size: float,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded train/test split, stratified on the target so both halves keep the bad rate."""
    target, id_column = applicant_contract.target.name, applicant_contract.id.name
    class_counts = validated_applicants[target].value_counts()
    counts = {"bad": int(class_counts.get(1, 0)), "good": int(class_counts.get(0, 0))}
    if min(counts.values()) < 2:
        raise applicant_contract.error(
            "target.bad/target.good",
            f"cannot split applicants: need at least 2 goods and 2 bads among the valid rows, "
            f"got {counts['good']} good and {counts['bad']} bad (are the bad values "
            f"{list(applicant_contract.target.bad)} the ones the file uses?)",
        )
    train, test = train_test_split(
        validated_applicants,
        test_size=test_size,
        random_state=seed,
        stratify=validated_applicants[target],
    )
    return (
        train.sort_values(id_column).reset_index(drop=True),
        test.sort_values(id_column).reset_index(drop=True),
    )
