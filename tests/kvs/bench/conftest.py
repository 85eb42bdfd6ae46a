"""One quick run of every suite (`python -m kvs.bench --quick`), shared by the bench tests."""

from __future__ import annotations

import pytest

from tests.kvs.bench.helpers import QuickRun, run_bench


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    return run_bench(tmp_path_factory.mktemp("bench"), "--quick")
