"""A registry over a real embedded store, with the initial namespaces."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import kvstore
from kvstore.registry import Registry


@pytest.fixture
async def registry(store: kvstore.Store) -> AsyncIterator[Registry]:
    reg = Registry(store)
    await reg.bootstrap()
    yield reg
