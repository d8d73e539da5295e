"""The ingest pipeline: one node, source chosen by `params:ingest`, checked against the contract
and data_engineering's quarantine limit before anything is written."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import load_raw_applicants


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                func=load_raw_applicants,
                inputs=dict(
                    ingest="params:ingest",
                    applicant_contract="applicant_contract",
                    max_quarantine_fraction="params:data_engineering.max_quarantine_fraction",
                ),
                outputs="raw_applicants",
                name="load_raw_applicants",
            )
        ]
    )
