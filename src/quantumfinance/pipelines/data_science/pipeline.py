"""The data_science pipeline: training nodes fit and evaluate, inference nodes are the logged model."""

from __future__ import annotations

from importlib.metadata import version

import pandas as pd
from kedro.pipeline import Pipeline, node, pipeline
from kedro_mlflow.pipeline import pipeline_ml_factory
from mlflow.models import ModelSignature
from mlflow.types.schema import Array, ColSpec, Object, ParamSchema, ParamSpec, Property, Schema

from quantumfinance.contract import ApplicantContract

from . import artifact, inference, metrics, portfolio, reference, selection, tables, training

INFERENCE_OUTPUT_COLUMNS = ("pd", "score", "band", "decision", "reason_codes", "positive_factors")


def _column_type(characteristic) -> str:
    if characteristic.is_categorical:
        return "string"
    # pandas holds a missing integer as NaN in a float column: nullable integers travel as doubles.
    return "long" if characteristic.type == "integer" and not characteristic.nullable else "double"


def model_signature(contract: ApplicantContract) -> ModelSignature:
    """MLflow's view of the contract: its model inputs in, the scoring columns out."""
    inputs = Schema(
        [ColSpec(_column_type(c), c.name, required=not c.nullable) for c in contract.features]
    )
    # Each reason: {code, text, points} (points lost, or gained for a positive factor).
    reason = Object(
        [Property("code", "string"), Property("text", "string"), Property("points", "double")]
    )
    outputs = Schema(
        [
            ColSpec("double", "pd"),
            ColSpec("long", "score"),
            ColSpec("string", "band"),
            ColSpec("string", "decision"),
            ColSpec(Array(reason), "reason_codes"),
            ColSpec(Array(reason), "positive_factors"),
        ]
    )
    # kedro-mlflow's KedroPipelineModel accepts a `runner` param at predict time.
    params = ParamSchema([ParamSpec("runner", "string", "SequentialRunner")])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def _inference_nodes() -> list:
    """The scoring semantics (the runtime); tagged both ways so training also scores the test
    split. The scoring model carries the contract: the logged model describes its inputs."""
    return [
        node(
            func=inference.score_applicants,
            inputs=dict(scoring_model="scoring_model", applicants="applicants"),
            outputs="scored_applicants",
            name="score_applicants",
            tags=["training", "inference"],
        ),
    ]


def _training_nodes() -> list:
    """Fit, cross-validate, evaluate, select, build the runtime's model and prove it equal."""
    return [
        node(
            func=training.cross_validate_candidates,
            inputs=dict(
                applicants_train="applicants_train",
                applicant_contract="applicant_contract",
                params="params:model_training",
            ),
            outputs=["cv_results", "cv_predictions"],
            name="cross_validate_candidates",
        ),
        node(
            func=training.fit_candidates,
            inputs=dict(
                applicants_train="applicants_train",
                applicant_contract="applicant_contract",
                params="params:model_training",
            ),
            outputs="fitted_candidates",
            name="fit_candidates",
        ),
        node(
            func=training.evaluate_on_test,
            inputs=dict(
                fitted_candidates="fitted_candidates",
                applicants_test="applicants_test",
                applicant_contract="applicant_contract",
            ),
            outputs="test_results",
            name="evaluate_on_test",
        ),
        node(
            func=selection.compare_candidates,
            inputs=dict(
                cv_results="cv_results",
                selection="params:model_selection",
                cv="params:model_training.cv",
            ),
            outputs="candidate_comparison",
            name="compare_candidates",
        ),
        node(
            func=selection.select_candidate,
            inputs="candidate_comparison",
            outputs="chosen_model",
            name="select_candidate",
        ),
        node(
            func=selection.fit_calibration,
            inputs=dict(
                cv_predictions="cv_predictions",
                chosen="chosen_model",
                calibration="params:calibration",
                seed="params:model_training.seed",
            ),
            outputs=["pd_calibrator", "cv_calibration"],
            name="fit_calibration",
        ),
        node(
            func=artifact.build_scoring_model,
            inputs=dict(
                fitted_candidates="fitted_candidates",
                chosen="chosen_model",
                calibrator="pd_calibrator",
                scoring="params:scoring",
                applicant_contract="applicant_contract",
                applicants_train="applicants_train",
            ),
            outputs="scoring_model",
            name="build_scoring_model",
        ),
        node(
            func=artifact.verify_scoring_model,
            inputs=dict(
                scoring_model="scoring_model",
                fitted_candidates="fitted_candidates",
                chosen="chosen_model",
                calibrator="pd_calibrator",
                applicants_train="applicants_train",
                applicants_test="applicants_test",
                applicant_contract="applicant_contract",
            ),
            outputs="scoring_model_verification",
            name="verify_scoring_model",
        ),
        node(
            func=tables.binning_table,
            inputs="fitted_candidates",
            outputs="binning_table",
            name="build_binning_table",
        ),
        node(
            func=tables.scorecard_table,
            inputs=["fitted_candidates", "scoring_model"],
            outputs="scorecard_table",
            name="build_scorecard_table",
        ),
        node(
            func=metrics.model_metrics,
            inputs=dict(
                cv_results="cv_results",
                cv_calibration="cv_calibration",
                test_results="test_results",
                chosen="chosen_model",
                calibrator="pd_calibrator",
                scored_test="scored_applicants",
                scored_train="scored_train_applicants",
                applicants_test="applicants_test",
                applicant_contract="applicant_contract",
                params="params:model_training",
                verification="scoring_model_verification",
            ),
            outputs="model_metrics",
            name="compute_model_metrics",
        ),
        node(
            func=metrics.pending_promotion,
            inputs="params:promotion",
            outputs="promotion_decision",
            name="record_pending_promotion",
        ),
        node(
            func=metrics.mlflow_metrics,
            inputs="model_metrics",
            outputs="model_metrics_mlflow",
            name="log_model_metrics",
        ),
        node(
            func=portfolio.applicant_features,
            inputs=["applicants_test", "applicant_contract"],
            outputs="applicants",
            name="prepare_test_features",
        ),
        node(
            func=portfolio.training_portfolio,
            inputs=dict(
                applicants_train="applicants_train",
                applicant_contract="applicant_contract",
                params="params:model_training",
            ),
            outputs="applicants_train_features",
            name="prepare_train_features",
        ),
        node(
            func=portfolio.score_portfolio,
            inputs=["scoring_model", "applicants_train_features"],
            outputs="scored_train_applicants",
            name="score_train_applicants",
        ),
        # What monitoring compares a scored book against, logged with the model's run.
        node(
            func=reference.development_reference,
            inputs=["scoring_model", "fitted_candidates", "applicants_train_features"],
            outputs="development_reference",
            name="profile_development_sample",
        ),
    ]


def create_pipeline(**kwargs) -> Pipeline:
    """Training + inference wrapped by kedro-mlflow so that a run logs the inference as the model."""
    inference = pipeline(_inference_nodes())
    training = pipeline(_training_nodes(), tags="training") + inference
    return pipeline_ml_factory(
        training=training,
        inference=inference,
        input_name="applicants",
        # The signature and input example come from the run's contract: set by the project hook
        # (hooks.py, with log_model_kwargs_for) once the env's catalog is known.
        log_model_kwargs={"name": "credit_model"},  # registered by hooks.py with its evidence
    )


# What loading the logged inference pipeline imports: the project's node code (the scoring
# runtime is numpy and pyarrow), Kedro's runner and kedro-mlflow's wrapper. No optbinning,
# scikit-learn or scipy: the model is arrays.
MODEL_DISTRIBUTIONS = (
    "quantumfinance",
    "kedro",
    "kedro-mlflow",
    "mlflow",
    "pandas",
    "numpy",
    "pyarrow",
    "cloudpickle",
)


def model_requirements() -> list[str]:
    """The model's requirements.txt: every distribution above, pinned to the running version.

    Named rather than inferred: MLflow's inference re-imports the model in a child process
    (~20 s per training run) and misses what `quantumfinance` pulls in (kedro, optbinning)."""
    return [f"{name}=={version(name)}" for name in MODEL_DISTRIBUTIONS]


def log_model_kwargs_for(contract: ApplicantContract) -> dict:
    """What kedro-mlflow needs to log the model for this contract: signature, input example and
    requirements."""
    return {
        "signature": model_signature(contract),
        "input_example": pd.DataFrame([contract.example_applicant()]),
        "pip_requirements": model_requirements(),
    }
