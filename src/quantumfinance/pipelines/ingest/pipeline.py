"""The ingest pipeline: one node, source chosen by `params:ingest`."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import load_raw_applicants


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                func=load_raw_applicants,
                inputs=["params:ingest", "applicant_contract"],
                outputs="raw_applicants",
                name="load_raw_applicants",
            )
        ]
    )
