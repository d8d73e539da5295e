"""The monitoring pipeline: reference + book profile -> stability; book + outcomes -> back-test."""

from kedro.pipeline import Pipeline, node, pipeline

from quantumfinance.pipelines.batch_scoring.nodes import resolve_scoring_model, tag_run_with_model

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                func=resolve_scoring_model,
                inputs="params:monitoring.model_uri",
                outputs="monitored_model",
                name="resolve_monitored_model",
            ),
            node(
                func=tag_run_with_model,
                inputs="monitored_model",
                outputs=None,
                name="link_monitoring_run_to_model",
            ),
            node(
                func=nodes.load_development_reference,
                inputs="monitored_model",
                outputs="monitoring_reference",
                name="load_development_reference",
            ),
            node(
                func=nodes.read_book_manifest,
                inputs=["monitored_model", "params:monitoring_storage"],
                outputs="monitored_book",
                name="read_book_manifest",
            ),
            node(
                func=nodes.stability_figures,
                inputs=dict(
                    reference="monitoring_reference",
                    manifest="monitored_book",
                    monitoring="params:monitoring",
                ),
                outputs="stability_figures",
                name="compute_stability",
            ),
            node(
                func=nodes.back_test,
                inputs=dict(
                    monitored_model="monitored_model",
                    manifest="monitored_book",
                    monitoring="params:monitoring",
                    storage="params:monitoring_storage",
                    engine="params:dask_engine",
                ),
                outputs=["monitoring_backtest", "backtest_figures"],
                name="back_test_outcomes",
            ),
            node(
                func=nodes.combine_figures,
                inputs=["stability_figures", "backtest_figures"],
                outputs="monitoring_figures",
                name="combine_monitoring_figures",
            ),
            node(
                func=nodes.summarise_monitoring,
                inputs=dict(
                    figures="monitoring_figures",
                    backtest="monitoring_backtest",
                    reference="monitoring_reference",
                    monitored_model="monitored_model",
                    manifest="monitored_book",
                ),
                outputs=["monitoring_summary", "monitoring_metrics"],
                name="summarise_monitoring",
            ),
            node(
                func=nodes.plot_monitoring,
                inputs=dict(
                    figures="monitoring_figures",
                    reference="monitoring_reference",
                    manifest="monitored_book",
                ),
                outputs=["monitoring_stability_plot", "monitoring_score_plot", "monitoring_plots"],
                name="plot_monitoring",
            ),
            node(
                func=nodes.enforce_fail_on,
                inputs=["monitoring_summary", "params:monitoring.fail_on", "monitoring_plots"],
                outputs=None,
                name="enforce_fail_on",
            ),
        ]
    )
