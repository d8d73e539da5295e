"""The batch_scoring pipeline: pin the model -> score the book on Dask -> summary to MLflow."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import resolve_scoring_model, score_book, summarise_book, tag_run_with_model


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                func=resolve_scoring_model,
                inputs="params:batch_scoring.model_uri",
                outputs="pinned_model",
                name="resolve_scoring_model",
            ),
            node(
                func=tag_run_with_model,
                inputs="pinned_model",
                outputs=None,
                name="link_scoring_run_to_model",
            ),
            node(
                func=score_book,
                inputs=dict(
                    scoring_model="pinned_model",
                    batch="params:batch_scoring",
                    storage="params:batch_scoring_storage",
                    engine="params:dask_engine",
                ),
                outputs="scored_book_manifest",
                name="score_book",
            ),
            node(
                func=summarise_book,
                inputs="scored_book_manifest",
                outputs=["batch_scoring_summary", "batch_scoring_metrics"],
                name="summarise_scored_book",
            ),
        ]
    )
