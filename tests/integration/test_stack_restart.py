"""`make stack-down && make stack-up`: data, model artifacts, registry and DVC remote all intact.

Runs near the end of the session (conftest orders it): it stops every service of the shared stack.
"""

from __future__ import annotations

import mlflow
import pytest

from quantumfinance.registry import download_version
from quantumfinance.stack import Stack, down, status, up
from tests.integration.conftest import query

pytestmark = [pytest.mark.stack, pytest.mark.slow]

BUCKETS = ("data", "mlflow", "dvc")
REGISTRY = (
    "SELECT v.version, v.run_id, v.source, a.alias FROM model_versions v LEFT JOIN "
    "registered_model_aliases a ON a.name = v.name AND a.version = v.version "
    "WHERE v.name = 'credit-score' ORDER BY v.version"
)


def objects(stack: Stack) -> dict[str, dict[str, tuple[str, str]]]:
    """bucket -> key -> (version id, etag) of every object version."""
    s3 = stack.s3.client()
    listing = {}
    for bucket in BUCKETS:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
        listing[bucket] = {
            f"{v['Key']}@{v['VersionId']}": (v["VersionId"], v["ETag"])
            for page in pages
            for v in page.get("Versions", [])
        }
    return listing


def test_down_then_up_keeps_data_artifacts_registry_and_dvc_remote(
    stack: Stack, stack_project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Something in the DVC remote bucket, written the way any client writes it.
    stack.s3.client().put_object(Bucket="dvc", Key="files/md5/00/restart-probe", Body=b"kept")
    before, registry = objects(stack), query(stack, REGISTRY)
    assert before["data"] and before["mlflow"], "nothing stored before the restart"
    assert any(alias == "champion" for *_, alias in registry), registry

    down(stack.config)
    assert all(line.startswith("DOWN") for line in status(stack.config).values())
    up(stack.config)

    assert objects(stack) == before, "S3 objects (or their versions) changed over the restart"
    assert query(stack, REGISTRY) == registry
    body = stack.s3.client().get_object(Bucket="dvc", Key="files/md5/00/restart-probe")["Body"]
    assert body.read() == b"kept"
    # The champion's files come back through the restarted server, from the restarted S3.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    # Through a client of the stack, so no process-global MLflow setting can redirect it.
    client = mlflow.MlflowClient(stack.mlflow.url, stack.mlflow.url)
    champion = client.get_model_version_by_alias("credit-score", "champion")
    model = mlflow.pyfunc.load_model(
        str(download_version(client, "credit-score", champion.version))
    )
    assert model.metadata.run_id in {run_id for _, run_id, _, _ in registry}
