"""A real Dask scheduler and two worker processes for the batch-scoring tests (module scope)."""

from __future__ import annotations

import pytest

from tests.support.dask_cluster import DaskCluster, dask_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> DaskCluster:
    with dask_cluster(tmp_path_factory.mktemp("dask")) as running:
        yield running
