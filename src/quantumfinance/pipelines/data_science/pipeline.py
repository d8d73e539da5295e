"""The data_science pipeline: training nodes fit and evaluate, inference nodes are the logged model."""

from __future__ import annotations

import pandas as pd
from kedro.pipeline import Pipeline, node, pipeline
from kedro_mlflow.pipeline import pipeline_ml_factory
from mlflow.models import ModelSignature
from mlflow.types.schema import Array, ColSpec, Object, ParamSchema, ParamSpec, Property, Schema

from quantumfinance.applicant_schema import CHARACTERISTICS, example_applicant

from . import nodes

MODEL_NAME = "credit-score"
INFERENCE_OUTPUT_COLUMNS = ("pd", "score", "band", "decision", "reason_codes")


def model_signature() -> ModelSignature:
    """The model contract: exactly the 20 characteristics in, the five scoring columns out."""
    inputs = Schema(
        [ColSpec("string" if c.is_categorical else "long", c.name) for c in CHARACTERISTICS]
    )
    reason = Object([Property("code", "string"), Property("text", "string")])
    outputs = Schema(
        [
            ColSpec("double", "pd"),
            ColSpec("long", "score"),
            ColSpec("string", "band"),
            ColSpec("string", "decision"),
            ColSpec(Array(reason), "reason_codes"),
        ]
    )
    # kedro-mlflow's KedroPipelineModel accepts a `runner` param at predict time.
    params = ParamSchema([ParamSpec("runner", "string", "SequentialRunner")])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def _inference_nodes() -> list:
    """The scoring semantics; tagged both ways so training also scores the test split."""
    tags = ["training", "inference"]
    return [
        # Bin assignment runs once per call; PD and points both read its WoE.
        node(
            nodes.assign_woe,
            ["credit_model", "applicants"],
            "applicant_woe",
            name="assign_woe",
            tags=tags,
        ),
        node(
            nodes.predict_default_probability,
            ["credit_model", "applicants", "applicant_woe"],
            "default_probability",
            name="predict_default_probability",
            tags=tags,
        ),
        node(
            nodes.characteristic_points,
            ["credit_model", "applicant_woe"],
            "characteristic_points",
            name="characteristic_points",
            tags=tags,
        ),
        node(
            nodes.score_applicants,
            ["default_probability", "characteristic_points", "credit_model"],
            "scored_applicants",
            name="score_applicants",
            tags=tags,
        ),
    ]


def _training_nodes() -> list:
    """Fit, cross-validate, evaluate, select and package the credit model."""
    return [
        node(
            nodes.cross_validate_candidates,
            ["applicants_train", "params:model_training"],
            "cv_results",
            name="cross_validate_candidates",
        ),
        node(
            nodes.fit_candidates,
            ["applicants_train", "params:model_training"],
            "fitted_candidates",
            name="fit_candidates",
        ),
        node(
            nodes.evaluate_on_test,
            ["fitted_candidates", "applicants_test"],
            "test_results",
            name="evaluate_on_test",
        ),
        node(
            nodes.select_candidate,
            ["cv_results", "params:model_selection"],
            "chosen_model",
            name="select_candidate",
        ),
        node(
            nodes.build_credit_model,
            ["fitted_candidates", "chosen_model", "params:scoring"],
            "credit_model",
            name="build_credit_model",
        ),
        node(nodes.binning_table, "credit_model", "binning_table", name="binning_table"),
        node(nodes.scorecard_table, "credit_model", "scorecard_table", name="scorecard_table"),
        node(
            nodes.model_metrics,
            ["cv_results", "test_results", "chosen_model"],
            "model_metrics",
            name="model_metrics",
        ),
        node(nodes.mlflow_metrics, "model_metrics", "model_metrics_mlflow", name="log_metrics"),
        node(nodes.applicant_features, "applicants_test", "applicants", name="test_features"),
        node(
            nodes.training_portfolio,
            ["applicants_train", "params:model_training"],
            "applicants_train_features",
            name="train_features",
        ),
        node(
            nodes.score_portfolio,
            ["credit_model", "applicants_train_features"],
            "scored_train_applicants",
            name="score_train_applicants",
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
        log_model_kwargs={
            "name": "credit_model",
            "registered_model_name": MODEL_NAME,
            "signature": model_signature(),
            "input_example": pd.DataFrame([example_applicant()]),
        },
    )
