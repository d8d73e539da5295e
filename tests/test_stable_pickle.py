"""quantumfinance.stable_pickle: two fits of the same data in two processes pickle to the same bytes."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from tests.support.services import REPO_ROOT

# A scorecard-shaped pipeline (optbinning + logistic regression) fitted on fixed data; prints the
# md5 of its stable pickle, and checks the pickle loads back into an equal-predicting model.
FIT = """
import hashlib, sys
import numpy as np, pandas as pd
from optbinning import BinningProcess
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from quantumfinance import stable_pickle
rng = np.random.default_rng(0)
x = pd.DataFrame({"a": rng.normal(size=400), "b": rng.choice(list("wxyz"), size=400)})
y = (x["a"] + (x["b"] == "x") + rng.normal(size=400) > 0.5).astype(int)
model = Pipeline([("binning", BinningProcess(["a", "b"], categorical_variables=["b"])),
                  ("regression", LogisticRegression())]).fit(x, y)
data = stable_pickle.dumps(model)
again = stable_pickle.loads(data)
assert (again.predict_proba(x) == model.predict_proba(x)).all()
sys.stdout.write(hashlib.md5(data).hexdigest())
"""


def fit_in_a_fresh_process(hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}  # any hash-order dependence would show
    proc = subprocess.run(
        [sys.executable, "-c", FIT],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


def test_same_fit_gives_the_same_bytes_across_processes() -> None:
    first, second = fit_in_a_fresh_process("1"), fit_in_a_fresh_process("2")
    assert len(first) == 32 and first == second


def test_model_pickles_use_the_stable_backend() -> None:
    catalog = yaml.safe_load((REPO_ROOT / "conf/base/catalog_data_science.yml").read_text())
    assert catalog["fitted_candidates"]["backend"] == "quantumfinance.stable_pickle"
    # The scoring model is no pickle: canonical JSON of plain arrays.
    assert catalog["scoring_model"]["type"] == "quantumfinance.model_dataset.ScoringModelDataset"


class Fitted:
    """Stands for a fitted estimator that keeps how long its fit took."""

    def __init__(self) -> None:
        self.coef = [1.5, 2.5]
        self._time_total = 0.123
        self._time_solver = None


def test_timings_are_zeroed_and_nothing_else_changes() -> None:
    from quantumfinance import stable_pickle  # noqa: PLC0415

    loaded = stable_pickle.loads(stable_pickle.dumps(Fitted()))
    assert loaded.coef == [1.5, 2.5] and loaded._time_total == 0.0 and loaded._time_solver is None
    other = Fitted()
    other._time_total = 9.87
    assert stable_pickle.dumps(other) == stable_pickle.dumps(Fitted())
