"""The reporting pipeline: reads the data_science outputs, writes plots, tables and the model card."""

from kedro.pipeline import Pipeline, node, pipeline

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Discrimination, calibration, stability, fairness and the model card."""
    return pipeline(
        [
            node(
                nodes.outcome_scores,
                ["applicants_test", "scored_applicants", "applicant_contract"],
                "test_outcomes",
                name="test_outcomes",
            ),
            node(nodes.roc_table, "test_outcomes", "roc_curve", name="roc_table"),
            node(nodes.ks_table, "test_outcomes", "ks_curve", name="ks_table"),
            node(
                nodes.calibration_table,
                ["test_outcomes", "params:reporting.calibration_bins"],
                "calibration",
                name="calibration_table",
            ),
            node(nodes.roc_plot, ["roc_curve", "model_metrics"], "roc_plot", name="roc_plot"),
            node(nodes.ks_plot, "ks_curve", "ks_plot", name="ks_plot"),
            node(
                nodes.calibration_plot, "calibration", "calibration_plot", name="calibration_plot"
            ),
            node(
                nodes.score_distribution_plot,
                "test_outcomes",
                "score_distribution_plot",
                name="score_distribution_plot",
            ),
            node(
                nodes.population_stability,
                [
                    "scored_train_applicants",
                    "scored_applicants",
                    "applicants_train",
                    "applicants_test",
                    "credit_model",
                    "params:reporting.psi",
                ],
                "population_stability",
                name="population_stability",
            ),
            node(
                nodes.fairness_table,
                ["test_outcomes", "applicant_contract", "params:reporting.fairness"],
                "fairness",
                name="fairness_table",
            ),
            node(
                nodes.model_card,
                [
                    "model_metrics",
                    "chosen_model",
                    "population_stability",
                    "fairness",
                    "applicants_train",
                    "applicants_test",
                    "data_quality_report",
                    "applicant_contract",
                    "params:ingest",
                    "params:reporting.model_card",
                ],
                "model_card",
                name="model_card",
            ),
            node(
                nodes.reporting_metrics,
                ["model_metrics", "population_stability"],
                "reporting_metrics",
                name="reporting_metrics",
            ),
        ]
    )
