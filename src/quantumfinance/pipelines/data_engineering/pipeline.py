"""The data_engineering pipeline (alias `de`): validate -> quarantine gate -> stratified split."""

from kedro.pipeline import Node, Pipeline

from .nodes import enforce_quarantine_limit, split_applicants, validate_applicants


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(
                func=validate_applicants,
                inputs=["raw_applicants", "applicant_contract"],
                outputs=["screened_applicants", "quarantined_applicants", "data_quality_report"],
                name="validate_applicants_node",
            ),
            Node(
                func=enforce_quarantine_limit,
                inputs=[
                    "screened_applicants",
                    "data_quality_report",
                    "params:data_engineering.max_quarantine_fraction",
                ],
                outputs="validated_applicants",
                name="enforce_quarantine_limit_node",
            ),
            Node(
                func=split_applicants,
                inputs=[
                    "validated_applicants",
                    "applicant_contract",
                    "params:data_engineering.test_size",
                    "params:data_engineering.seed",
                ],
                outputs=["applicants_train", "applicants_test"],
                name="split_applicants_node",
            ),
        ]
    )
