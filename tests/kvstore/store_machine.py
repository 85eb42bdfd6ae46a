"""The base of the stateful tests that drive a real store: one store in a fresh directory,
on an event loop of its own (Hypothesis runs rules synchronously), closed and removed at
the end of each run."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable
from typing import Any, TypeVar

from hypothesis.stateful import RuleBasedStateMachine

import kvstore

_T = TypeVar("_T")


class StoreMachine(RuleBasedStateMachine):
    """`self.store` (opened with `store_options`, fsync off) on `self.loop`; `run(aw)` awaits on it."""

    def __init__(self, prefix: str, **store_options: Any) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix=prefix)
        self.loop = asyncio.new_event_loop()
        self.store = kvstore.open(self.dir, fsync=False, **store_options)

    def run(self, aw: Awaitable[_T]) -> _T:
        return self.loop.run_until_complete(aw)

    def teardown(self) -> None:
        try:
            self.run(self.store.close())
            self.run(self.loop.shutdown_default_executor())
        finally:
            self.loop.close()
            shutil.rmtree(self.dir, ignore_errors=True)
