"""`ds`: alias of the data_science pipeline (the kedro-mlflow PipelineML).

A package rather than a dict entry because Kedro 1.7 imports only the pipeline folders named on
the command line, so `kedro run --pipelines=ds` needs a folder called `ds`.
"""

from quantumfinance.pipelines.data_science import create_pipeline

__all__ = ["create_pipeline"]
