"""The challenger as arrays (quantumfinance.scoring.trees): the fitted pipeline's PDs, with numpy.

Each shipped portfolio's challenger is fitted as data_science fits it (its own candidate, the
shipped parameters, the train/test split), exported by tree_export, and scored both ways.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.special import expit

from quantumfinance.contract import ApplicantContract
from quantumfinance.pipelines.data_engineering.nodes import split_applicants
from quantumfinance.pipelines.data_science.candidates import _challenger_candidate, _fit
from quantumfinance.pipelines.data_science.tree_export import tree_ensemble_of
from quantumfinance.scoring.trees import ChallengerArrays, TreeEnsemble
from tests.support import portfolios
from tests.support.portfolios import REPO_ROOT


def _parameters(name: str) -> dict:
    return yaml.safe_load((REPO_ROOT / "conf" / "base" / f"parameters_{name}.yml").read_text())


class Fitted:
    """One portfolio's challenger fitted on its train split, and its arrays."""

    def __init__(self, env: str) -> None:
        self.contract: ApplicantContract = portfolios.contract(env)
        split = _parameters("data_engineering")["data_engineering"]
        self.train, self.test = split_applicants(
            portfolios.applicants(env), self.contract, split["test_size"], split["seed"]
        )
        params = _parameters("data_science")["model_training"]
        candidate = _challenger_candidate(params, self.contract)
        self.pipeline = _fit(candidate, self.train, self.contract, params["threads"])
        self.arrays = tree_ensemble_of(self.pipeline)

    def frame(self, applicants: pd.DataFrame) -> pd.DataFrame:
        return applicants[list(self.contract.feature_names)]

    def columns(self, applicants: pd.DataFrame) -> dict[str, np.ndarray]:
        """Column arrays as the runtime gets them: object arrays of str/None, float64."""
        categorical = set(self.contract.categorical_features)
        return {
            name: applicants[name].to_numpy(dtype=object if name in categorical else np.float64)
            for name in self.contract.feature_names
        }

    def assert_parity(self, applicants: pd.DataFrame) -> None:
        expected = self.pipeline.predict_proba(self.frame(applicants))[:, 1]
        actual = expit(self.arrays.raw_score(self.columns(applicants)))
        np.testing.assert_allclose(actual, expected, atol=1e-12, rtol=0)


@pytest.fixture(scope="module", params=portfolios.PORTFOLIOS)
def fitted(request) -> Fitted:
    return Fitted(request.param)


@pytest.fixture(scope="module")
def german() -> Fitted:
    return Fitted("base")


def test_every_train_and_test_applicant_scores_as_the_pipeline(fitted: Fitted) -> None:
    fitted.assert_parity(fitted.train)
    fitted.assert_parity(fitted.test)


def test_scores_are_the_boosters_own_floats(german: Fitted) -> None:
    # Leaves added in tree order after the base score, as scikit-learn does: equal, not close.
    encode, boosting = (german.pipeline.named_steps[s] for s in ("encode", "boosting"))
    matrix = german.arrays.matrix(german.columns(german.train))
    np.testing.assert_array_equal(matrix, encode.transform(german.frame(german.train)))
    expected = boosting.decision_function(matrix)
    np.testing.assert_array_equal(german.arrays.ensemble.raw_score(matrix), expected)


def test_missing_values_and_unknown_categories_score_as_the_pipeline(fitted: Fitted) -> None:
    rows = fitted.test.head(40).copy()
    contract = fitted.contract
    for i, name in enumerate(contract.categorical_features):
        column = rows[name].astype(object)
        column.iloc[i % 10] = None
        column.iloc[10 + i % 10] = np.nan
        column.iloc[20 + i % 10] = "a category never seen"
        column.iloc[30] = column.iloc[30].upper()  # case matters: unknown
        rows[name] = column
    for i, name in enumerate(contract.numeric_features):
        rows[name] = rows[name].astype(np.float64)
        rows.iloc[(i * 3) % 40, rows.columns.get_loc(name)] = np.nan
    rows.iloc[39, [rows.columns.get_loc(n) for n in contract.feature_names]] = np.nan
    fitted.assert_parity(rows)


def test_codes_and_values_off_the_known_grid_go_where_the_booster_sends_them(
    german: Fitted,
) -> None:
    # The matrix the booster reads, with category codes it never had (negative, fractional,
    # too large; infinite ones it refuses) and numbers on, beside and beyond its thresholds.
    ensemble = german.arrays.ensemble
    rng = np.random.default_rng(7)
    matrix = german.arrays.matrix(german.columns(german.test)).copy()
    for j, known in enumerate(german.arrays.categories):
        if known is not None:
            odd = np.array([-1.0, -0.5, 0.5, len(known), len(known) + 0.5, 99.0, np.nan])
            matrix[rng.choice(len(matrix), 60), j] = rng.choice(odd, 60)
        else:
            cuts = ensemble.threshold[(ensemble.feature == j) & ~ensemble.categorical]
            edges = np.concatenate([cuts, np.nextafter(cuts, np.inf), np.nextafter(cuts, -np.inf)])
            values = np.concatenate([edges, [np.inf, -np.inf, np.nan, -0.0]])
            matrix[rng.choice(len(matrix), 60), j] = rng.choice(values, 60)
    boosting = german.pipeline.named_steps["boosting"]
    np.testing.assert_allclose(
        ensemble.raw_score(matrix), boosting.decision_function(matrix), atol=1e-12, rtol=0
    )


@st.composite
def applicants(draw, fitted: Fitted, rows: int) -> pd.DataFrame:
    """Applicants drawn from the contract, with missing values, unknown categories and numbers
    on the model's thresholds."""
    ensemble, columns = fitted.arrays.ensemble, {}
    for j, name in enumerate(fitted.arrays.characteristics):
        known = fitted.arrays.categories[j]
        if known is not None:
            value = st.one_of(st.sampled_from(known), st.none(), st.just(math.nan), st.text())
            columns[name] = draw(st.lists(value, min_size=rows, max_size=rows))
        else:
            c = fitted.contract.by_name[name]
            cuts = ensemble.threshold[(ensemble.feature == j) & ~ensemble.categorical]
            numbers = st.floats(c.minimum, c.maximum) if c.minimum is not None else st.floats()
            value = st.one_of(numbers, st.sampled_from(sorted(set(cuts.tolist())) or [0.0]))
            value = st.one_of(value, st.just(math.nan))
            columns[name] = draw(st.lists(value, min_size=rows, max_size=rows))
    return pd.DataFrame(
        {
            name: pd.Series(values, dtype=object if fitted.arrays.categories[j] else np.float64)
            for j, (name, values) in enumerate(columns.items())
        }
    )


def test_generated_applicants_score_as_the_pipeline(fitted: Fitted) -> None:
    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def check(data) -> None:
        rows = data.draw(st.integers(1, 20))
        fitted.assert_parity(data.draw(applicants(fitted, rows)))

    check()


def test_canonical_form_round_trips_byte_for_byte(fitted: Fitted) -> None:
    text = json.dumps(fitted.arrays.to_dict(), sort_keys=True)
    assert "NaN" not in text and "Infinity" not in text
    again = ChallengerArrays.from_dict(json.loads(text))
    assert json.dumps(again.to_dict(), sort_keys=True) == text
    assert again == fitted.arrays
    columns = fitted.columns(fitted.test)
    np.testing.assert_array_equal(again.raw_score(columns), fitted.arrays.raw_score(columns))
    assert not again.ensemble.threshold.flags.writeable
    assert not again.ensemble.category_left.flags.writeable


def test_copies_are_the_same_object_and_pickles_are_the_canonical_form(german: Fitted) -> None:
    arrays = german.arrays
    assert copy.deepcopy(arrays) is arrays and copy.deepcopy(arrays.ensemble) is arrays.ensemble
    again = pickle.loads(pickle.dumps(arrays))
    assert again == arrays and not again.ensemble.leaf_value.flags.writeable


def test_a_split_on_missing_values_survives_export_and_json() -> None:
    # scikit-learn splits "missing vs the rest" with threshold +inf: JSON has no infinity.
    from sklearn.compose import ColumnTransformer  # noqa: PLC0415
    from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415
    from sklearn.preprocessing import OrdinalEncoder  # noqa: PLC0415

    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {"region": rng.choice(["n", "s", "e", None], 600), "income": rng.normal(size=600)}
    )
    frame.loc[frame.index[:150], "income"] = np.nan
    target = (frame["income"].isna() | (rng.random(600) < 0.1)).astype(int)
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan
    )
    encode = ColumnTransformer(
        [("categories", encoder, ["region"])],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    boosting = HistGradientBoostingClassifier(max_iter=5, max_depth=2, categorical_features=[0])
    pipeline = Pipeline([("encode", encode), ("boosting", boosting)]).fit(frame, target)
    arrays = tree_ensemble_of(pipeline)
    assert np.isinf(arrays.ensemble.threshold).any()
    again = ChallengerArrays.from_dict(json.loads(json.dumps(arrays.to_dict(), sort_keys=True)))
    probe = pd.DataFrame(
        {"region": ["n", None, "w", "e", "s"], "income": [np.inf, np.nan, 0.0, -np.inf, 1e300]}
    )
    applicants = pd.concat([frame, probe], ignore_index=True)
    columns = {
        "region": applicants["region"].to_numpy(dtype=object),
        "income": applicants["income"].to_numpy(dtype=np.float64),
    }
    expected = pipeline.predict_proba(applicants)[:, 1]
    np.testing.assert_allclose(expit(again.raw_score(columns)), expected, atol=1e-12, rtol=0)


def test_str_arrays_code_as_object_arrays(german: Fitted) -> None:
    columns = german.columns(german.test)
    as_str = {
        name: values.astype(str) if values.dtype == object else values
        for name, values in columns.items()
    }
    np.testing.assert_array_equal(german.arrays.matrix(as_str), german.arrays.matrix(columns))


def test_damaged_arrays_are_refused(german: Fitted) -> None:
    data = german.arrays.ensemble.to_dict()
    deeper = {**data, "max_depth": data["max_depth"] - 1}
    with pytest.raises(ValueError, match="deeper"):
        TreeEnsemble.from_dict(deeper)
    wild = {**data, "left": [len(data["left"]) + 5, *data["left"][1:]]}
    with pytest.raises(ValueError, match="out of range"):
        TreeEnsemble.from_dict(wild)
    with pytest.raises(ValueError, match="matrix"):
        german.arrays.ensemble.raw_score(np.zeros((2, 3)))


def test_the_runtime_imports_neither_scikit_learn_nor_treelite() -> None:
    code = (
        "import sys, quantumfinance.scoring.trees\n"
        "heavy = {'sklearn', 'treelite', 'kedro', 'mlflow', 'optbinning', 'pandas', 'scipy'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
