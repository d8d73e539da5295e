"""The latency shortcuts give the same data as the straightforward code they replace.

(The column-wise frame and the audit hash against their plain constructions, on both shipped
contracts: test_request_schema.py.)
"""

from __future__ import annotations

import gc

import numpy as np
import pandas as pd

from quantumfinance_serving.model_store import FrameLayout, applicants_frame
from tests.serving.helpers import random_applicants


def test_served_frame_layout_is_the_signatures_and_the_contracts(api, contract):
    """The frame the API builds has the dtypes the model's signature enforces, and those follow
    the contract's rule (category -> string, integer -> long, nullable integer/float -> double)."""
    model = api.app.state.store.get()
    assert model.layout == FrameLayout.of(contract)
    signature = model.pyfunc.metadata.get_input_schema()
    assert [spec.name for spec in signature.inputs] == list(contract.feature_names)
    applicants = random_applicants(contract, 100, seed=2)
    frame = applicants_frame(applicants, model.layout)
    expected = pd.DataFrame.from_records(applicants, columns=list(contract.feature_names))
    for name, dtype in model.layout.dtypes.items():
        if dtype is not None:
            expected[name] = expected[name].astype(dtype)
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert all(frame[c].dtype == np.int64 for c in contract.numeric_features if
               contract.by_name[c].type == "integer" and not contract.by_name[c].nullable)  # fmt: skip


def test_loaded_model_is_frozen_out_of_the_cyclic_gc(api):
    assert api.get("/ready").status_code == 200
    assert gc.get_freeze_count() > 100_000  # the model and modules, not scanned per collection
