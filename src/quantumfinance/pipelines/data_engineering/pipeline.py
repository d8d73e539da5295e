"""The data_engineering pipeline (alias `de`): validate -> quarantine gate -> stratified split."""

from kedro.pipeline import Pipeline, node, pipeline

from .nodes import enforce_quarantine_limit, split_applicants, validate_applicants


def create_pipeline(**kwargs) -> Pipeline:
    return pipeline(
        [
            node(
                func=validate_applicants,
                inputs=["raw_applicants", "applicant_contract"],
                outputs=["screened_applicants", "quarantined_applicants", "data_quality_report"],
                name="validate_applicants",
            ),
            node(
                func=enforce_quarantine_limit,
                inputs=dict(
                    screened_applicants="screened_applicants",
                    data_quality="data_quality_report",
                    max_quarantine_fraction="params:data_engineering.max_quarantine_fraction",
                ),
                outputs="validated_applicants",
                name="enforce_quarantine_limit",
            ),
            node(
                func=split_applicants,
                inputs=dict(
                    validated_applicants="validated_applicants",
                    applicant_contract="applicant_contract",
                    test_size="params:data_engineering.test_size",
                    seed="params:data_engineering.seed",
                ),
                outputs=["applicants_train", "applicants_test"],
                name="split_applicants",
            ),
        ]
    )
