"""A run's step tag names its pipelines in run order, whatever order Kedro hands them over in."""

from quantumfinance.hooks import step_name


def test_step_tag_is_the_same_for_either_order_of_the_pipelines():
    assert step_name(["data_engineering", "ingest"]) == "ingest,data_engineering"
    assert step_name(["ingest", "data_engineering"]) == "ingest,data_engineering"
    assert step_name(["reporting"]) == "reporting"
