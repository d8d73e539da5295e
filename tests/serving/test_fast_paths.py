"""The latency shortcuts give the same data as the straightforward code they replace."""

from __future__ import annotations

import gc
import hashlib

import pandas as pd

from quantumfinance.applicant_schema import FEATURE_COLUMNS, load_german_credit
from quantumfinance_serving.audit import input_hash
from quantumfinance_serving.model_store import applicants_frame


def _applicants() -> list[dict]:
    frame = load_german_credit()[list(FEATURE_COLUMNS)]
    return [
        {k: (v if isinstance(v, str) else int(v)) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def test_column_wise_frame_equals_from_records():
    applicants = _applicants()
    expected = pd.DataFrame.from_records(applicants, columns=list(FEATURE_COLUMNS))
    pd.testing.assert_frame_equal(applicants_frame(applicants), expected, check_exact=True)


def test_input_hash_is_the_documented_digest():
    for applicant in _applicants()[:50]:
        joined = "\x1f".join(str(applicant[name]) for name in FEATURE_COLUMNS)
        assert input_hash(applicant) == hashlib.sha256(joined.encode()).hexdigest()


def test_loaded_model_is_frozen_out_of_the_cyclic_gc(api):
    assert api.get("/ready").status_code == 200
    assert gc.get_freeze_count() > 100_000  # the model and modules, not scanned per collection
