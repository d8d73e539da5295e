"""A loaded credit model scores without unpickling (or importing) optbinning or scikit-learn;
reports still get the fitted scorecard, unpickled on first use."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd

from quantumfinance import stable_pickle
from quantumfinance.pipelines.data_science import nodes

# In a fresh interpreter: load the model file, score the contract's example applicant through
# the inference nodes, report which of the training libraries got imported, then touch the
# scorecard.
SCORE = """
import json, pickle, sys
with open(sys.argv[1], "rb") as handle:
    model = pickle.load(handle)
with open(sys.argv[2], "rb") as handle:
    contract = pickle.load(handle)
from quantumfinance.pipelines.data_science import nodes
import pandas as pd
scored = nodes.score_portfolio(model, contract, pd.DataFrame([contract.example_applicant()]))
before = sorted(m for m in ("optbinning", "sklearn", "scipy.stats") if m in sys.modules)
steps = list(model.scorecard.named_steps)
print(json.dumps({"pd": float(scored["pd"][0]), "optbinning_before": before,
                  "optbinning_after": "optbinning" in sys.modules, "steps": steps}))
"""


def test_scoring_never_unpickles_the_binning_and_reports_still_read_it(project, tmp_path):
    model_file = project.data / "06_models" / "credit_model.pkl"
    contract_file = tmp_path / "contract.pkl"
    contract_file.write_bytes(pickle.dumps(project.contract))
    proc = subprocess.run(
        [sys.executable, "-c", SCORE, str(model_file), str(contract_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    with model_file.open("rb") as handle:
        model = pickle.load(handle)
    if model.chosen == "scorecard":  # (a challenger or blend needs its estimator, hence all)
        assert seen["optbinning_before"] == [], f"scoring imported {seen['optbinning_before']}"
    assert seen["optbinning_after"] is True
    assert seen["steps"] == list(model.scorecard.named_steps)
    example = nodes.score_portfolio(
        model, project.contract, pd.DataFrame([project.contract.example_applicant()])
    )
    assert seen["pd"] == float(example["pd"][0])


def test_deferred_parts_round_trip(project):
    """A model pickled again with its parts still deferred keeps their pickle as it was; with
    them loaded, they are pickled again and come back as the same fitted objects (one shared
    scorecard when it is also the estimator)."""
    data = (project.data / "06_models" / "credit_model.pkl").read_bytes()
    untouched = stable_pickle.loads(data)
    blob = vars(untouched)["_deferred"]
    assert isinstance(blob, bytes) and "scorecard" not in vars(untouched)
    assert vars(stable_pickle.loads(stable_pickle.dumps(untouched)))["_deferred"] == blob
    touched = stable_pickle.loads(data)
    assert touched.scorecard is touched.estimator or touched.chosen != "scorecard"
    again = stable_pickle.loads(stable_pickle.dumps(touched))
    assert again.scorecard is again.estimator or again.chosen != "scorecard"
    for model in (touched, again):
        regression = model.scorecard.named_steps["regression"]
        np.testing.assert_array_equal(regression.coef_, untouched.regression[0])
        np.testing.assert_array_equal(regression.intercept_, untouched.regression[1])
        assert list(model.scorecard.named_steps) == list(touched.scorecard.named_steps)
