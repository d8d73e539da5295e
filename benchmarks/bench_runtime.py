"""The scoring runtime in process, side by side with its peers, in one run.

Rows: the runtime (contract check, PD, score, band, decision, reasons and positive factors), a
plain numpy scorer written here over the same model's arrays as the floor (categories coded,
one lookup per characteristic, a sum and a logistic: no check, no reasons), the registered
model's pyfunc ``predict`` (what `mlflow models serve` runs) and a plain scikit-learn one-hot +
logistic pipeline's ``predict_proba`` (the peer). Median of repeated calls per batch size, on
synthetic applicants of the model's own contract. Without QF_BENCH_TRACKING_URI the model is
trained first in a tmp project with the test fixture's code (German credit: a scorecard).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

TITLE = "Scoring runtime in process: runtime vs numpy floor vs pyfunc predict vs scikit-learn"
SIZES = (1, 10_000, 1_000_000)
GOALS = {  # (what, rows): milliseconds
    ("runtime", 1): 0.1,
    ("runtime", 10_000): 10.0,
    ("runtime", 1_000_000): 1000.0,
    ("predict", 1): 2.0,
    ("predict", 10_000): 15.0,
}


def _median_ms(call, rows: int) -> float:
    call()
    repeats = 200 if rows == 1 else 20 if rows <= 10_000 else 3
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def numpy_floor(model):
    """A plain numpy scorer over the model's arrays: the least work a scorecard's PD and band
    need (what the runtime is measured against)."""
    codes = [
        {c: i for i, c in enumerate(f.categories)} if f.categorical else None
        for f in model.features
    ]
    offsets = np.cumsum([0] + [f.slots for f in model.features[:-1]])
    terms = np.concatenate([f.term for f in model.features])
    floors = -np.asarray(model.policy.min_scores)
    c = model.calibration

    def score(columns: dict) -> tuple[np.ndarray, np.ndarray]:
        slots = np.empty((len(next(iter(columns.values()))), len(model.features)), dtype=np.int64)
        for j, f in enumerate(model.features):
            values = columns[f.name]
            if codes[j] is None:
                slots[:, j] = np.searchsorted(f.edges, values, side="right")
            else:
                slots[:, j] = [codes[j][v] for v in values]
        z = terms[slots + offsets].sum(axis=1) + model.intercept
        pd_ = 1 / (1 + np.exp(-(c.slope * z + c.intercept)))
        points = model.policy.offset + model.policy.factor * np.log((1 - pd_) / pd_)
        return pd_, np.searchsorted(floors, -points.round(), side="left")

    return score


def _sklearn_peer(frame, target):
    import pandas as pd  # noqa: PLC0415
    from sklearn.compose import ColumnTransformer  # noqa: PLC0415
    from sklearn.impute import SimpleImputer  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import OneHotEncoder  # noqa: PLC0415

    categories = [c for c in frame if not pd.api.types.is_numeric_dtype(frame[c])]
    numbers = [c for c in frame if c not in categories]
    encode = ColumnTransformer(
        [
            ("categories", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                         OneHotEncoder(handle_unknown="ignore")), categories),
            ("numbers", SimpleImputer(strategy="median"), numbers),
        ]
    )  # fmt: skip
    return make_pipeline(encode, LogisticRegression(max_iter=1000)).fit(frame, target)


def run() -> str:
    import mlflow  # noqa: PLC0415

    from benchmarks.bench_serving import _trained_store  # noqa: PLC0415
    from quantumfinance.contract import contract_of_scoring_model  # noqa: PLC0415
    from quantumfinance.scoring import check, score  # noqa: PLC0415
    from quantumfinance.scoring.stored import load_scoring_model  # noqa: PLC0415
    from quantumfinance.synthetic import generate_applicants  # noqa: PLC0415

    workdir = Path(tempfile.mkdtemp(prefix="qf-bench-runtime-"))
    tracking_uri, model_uri = _trained_store(workdir)
    mlflow.set_tracking_uri(tracking_uri)
    model = load_scoring_model(mlflow.artifacts.download_artifacts(model_uri))
    contract = contract_of_scoring_model(model)
    names = list(model.feature_names)
    book = generate_applicants(contract, max(SIZES), seed=5)[names]
    columns = {
        n: (book[n].to_numpy(dtype=object) if contract.by_name[n].is_categorical
            else book[n].to_numpy(dtype="float64"))
        for n in names
    }  # fmt: skip
    pyfunc = mlflow.pyfunc.load_model(model_uri)
    floor = (
        numpy_floor(model) if model.additive and not any(f.slope for f in model.features) else None
    )
    sample = book.iloc[:10_000]
    peer = _sklearn_peer(sample, (pyfunc.predict(sample)["decision"] != "approve").astype(int))
    figures: dict[tuple[str, int], float] = {}
    for n in SIZES:
        part = {k: v[:n] for k, v in columns.items()}
        figures["runtime", n] = _median_ms(lambda p=part: score(model, check(model, p)), n)
        if floor is not None:
            figures["numpy floor", n] = _median_ms(lambda p=part: floor(p), n)
        if n <= 10_000:
            frame = book.iloc[:n]
            figures["predict", n] = _median_ms(lambda f=frame: pyfunc.predict(f), n)
            figures["scikit-learn peer", n] = _median_ms(lambda f=frame: peer.predict_proba(f), n)
    kinds = ["runtime", "numpy floor", "predict", "scikit-learn peer"]
    lines = [
        f"Model `{model_uri}` ({model.kind}, {len(names)} characteristics); synthetic "
        "applicants of its contract; median ms per call.",
        "",
        "| scorer | " + " | ".join(f"{n:,} row{'s' if n > 1 else ''}" for n in SIZES) + " |",
        "|---|" + "---:|" * len(SIZES),
    ]
    for kind in kinds:
        cells = [f"{figures[kind, n]:.3f}" if (kind, n) in figures else "–" for n in SIZES]  # noqa: RUF001
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines += ["", "| goal | measured | |", "|---|---:|---|"]
    for (kind, n), limit in GOALS.items():
        got = figures[kind, n]
        label = "the runtime in process" if kind == "runtime" else "the registered model's predict"
        lines.append(
            f"| {label}, {n:,} row{'s' if n > 1 else ''} ≤ {limit:g} ms | {got:.3f} ms | "
            f"{'met' if got <= limit else 'not met'} |"
        )
    return "\n".join(lines)
