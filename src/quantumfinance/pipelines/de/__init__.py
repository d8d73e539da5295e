"""`de`: alias of the data_engineering pipeline.

A package rather than a dict entry because Kedro 1.7 imports only the pipeline folders named on
the command line, so `kedro run --pipelines=de` needs a folder called `de`.
"""

from quantumfinance.pipelines.data_engineering import create_pipeline

__all__ = ["create_pipeline"]
