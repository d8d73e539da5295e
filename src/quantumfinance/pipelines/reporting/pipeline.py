"""The reporting pipeline: reads the data_science outputs, writes plots, tables and the model card."""

from kedro.pipeline import Pipeline, node, pipeline

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Discrimination, calibration, stability, fairness and the model card."""
    return pipeline(
        [
            node(
                func=nodes.outcome_scores,
                inputs=dict(
                    applicants="applicants_test",
                    scored="scored_applicants",
                    applicant_contract="applicant_contract",
                ),
                outputs="test_outcomes",
                name="join_test_outcomes",
            ),
            node(
                func=nodes.roc_table,
                inputs="test_outcomes",
                outputs="roc_curve",
                name="compute_roc_curve",
            ),
            node(
                func=nodes.ks_table,
                inputs="test_outcomes",
                outputs="ks_curve",
                name="compute_ks_curve",
            ),
            node(
                func=nodes.calibration_table,
                inputs=["test_outcomes", "params:reporting.calibration_bins"],
                outputs="calibration",
                name="compute_calibration",
            ),
            node(
                func=nodes.roc_plot,
                inputs=["roc_curve", "model_metrics"],
                outputs="roc_plot",
                name="plot_roc",
            ),
            node(
                func=nodes.ks_plot,
                inputs="ks_curve",
                outputs="ks_plot",
                name="plot_ks",
            ),
            node(
                func=nodes.calibration_plot,
                inputs=["calibration", "model_metrics"],
                outputs="calibration_plot",
                name="plot_calibration",
            ),
            node(
                func=nodes.score_distribution_plot,
                inputs="test_outcomes",
                outputs="score_distribution_plot",
                name="plot_score_distribution",
            ),
            node(
                func=nodes.population_stability,
                inputs=dict(
                    scored_train="scored_train_applicants",
                    scored_test="scored_applicants",
                    applicants_train="applicants_train",
                    applicants_test="applicants_test",
                    scoring_model="scoring_model",
                    psi="params:reporting.psi",
                ),
                outputs="population_stability",
                name="compute_population_stability",
            ),
            node(
                func=nodes.fairness_table,
                inputs=dict(
                    outcomes="test_outcomes",
                    applicant_contract="applicant_contract",
                    fairness="params:reporting.fairness",
                ),
                outputs="fairness",
                name="compute_fairness",
            ),
            node(
                func=nodes.model_card,
                inputs=dict(
                    metrics="model_metrics",
                    chosen_model="chosen_model",
                    stability="population_stability",
                    fairness="fairness",
                    applicants_train="applicants_train",
                    applicants_test="applicants_test",
                    data_quality="data_quality_report",
                    applicant_contract="applicant_contract",
                    ingest="params:ingest",
                    card="params:reporting.model_card",
                    promotion_decision="promotion_decision",
                    cv="params:model_training.cv",
                    candidate_comparison="candidate_comparison",
                    scoring_model="scoring_model",
                ),
                outputs="model_card",
                name="build_model_card",
            ),
            node(
                func=nodes.reporting_metrics,
                inputs=["model_metrics", "population_stability"],
                outputs="reporting_metrics",
                name="compute_reporting_metrics",
            ),
        ]
    )
