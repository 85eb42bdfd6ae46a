"""Shared fixtures: a real store in a temporary directory, closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import kvstore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[kvstore.Store]:
    s = kvstore.open(tmp_path / "store", min_lease_ttl=1)
    try:
        yield s
    finally:
        await s.close()
