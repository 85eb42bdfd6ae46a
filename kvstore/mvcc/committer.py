"""Group commit: one thread applies queued commands in batches, one LMDB commit each.

Writers on the event loop queue a command and await a future. The committer thread
takes everything queued (up to a cap), applies each command in one write transaction,
commits it (one fsync for the whole batch), then hands the results and the batch's
events back to the loop in one callback. While it waits for the disk, the next batch
gathers, so many concurrent writers share each fsync.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import lmdb

from kvstore.errors import InternalError, KVError, StoreClosedError
from kvstore.messages import Event, WriteRequest, WriteResponse
from kvstore.mvcc.apply import Applier
from kvstore.mvcc.backend import Backend

log = logging.getLogger(__name__)

BatchResult = WriteResponse | BaseException
OnBatch = Callable[[int, list[Event], list[Any]], None]
"""Called on the loop after a commit: (revision, events, requests of the batch)."""

_MAX_BATCH = 4096
_MAX_BATCH_BYTES = 16 << 20
_MAX_MAP_RETRIES = 8


class Committer:
    def __init__(self, backend: Backend, applier: Applier, loop: asyncio.AbstractEventLoop, on_batch: OnBatch):
        self.backend = backend
        self.applier = applier
        self.loop = loop
        self.on_batch = on_batch
        self.batches = 0
        self.commands = 0
        self._queue: deque[tuple[WriteRequest, asyncio.Future[Any], int]] = deque()
        self._wake = threading.Event()
        self._sleeping = False  # the thread is (about to be) blocked on _wake
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="kvstore-committer", daemon=True)
        self._thread.start()

    def submit(self, req: WriteRequest, size: int) -> asyncio.Future[Any]:
        """Queue a validated command; the future resolves once it is durable."""
        if self._closing:
            raise StoreClosedError()
        fut: asyncio.Future[Any] = self.loop.create_future()
        self._queue.append((req, fut, size))
        if self._sleeping:
            self._wake.set()
        return fut

    async def close(self) -> None:
        """Commit everything queued, then stop the thread."""
        self._closing = True
        self._wake.set()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    # ------------------------------------------------------------ committer thread

    def _run(self) -> None:
        queue = self._queue
        while True:
            # Announce sleep before the last look at the queue: a submit that lands after
            # that look sees the flag and sets the event.
            self._sleeping = True
            if not queue and not self._closing:
                self._wake.wait()
            self._wake.clear()
            self._sleeping = False
            while queue:
                batch: list[tuple[WriteRequest, asyncio.Future[Any], int]] = []
                size = 0
                while queue and len(batch) < _MAX_BATCH and size < _MAX_BATCH_BYTES:
                    item = queue.popleft()
                    batch.append(item)
                    size += item[2]
                self._commit(batch, size)
            if self._closing and not queue:
                return

    def _commit(self, batch: list[tuple[WriteRequest, asyncio.Future[Any], int]], size: int) -> None:
        reqs = [req for req, _, _ in batch]
        try:
            results, events = self._apply_with_retries(reqs, size)
        except BaseException as exc:  # the batch could not be applied at all
            log.exception("batch of %d commands failed", len(batch))
            if len(batch) > 1:
                # Find the offender: retry each command on its own.
                for item in batch:
                    self._commit([item], item[2])
                return
            results, events = [InternalError(exc)], []
        self.batches += 1
        self.commands += len(batch)
        futures = [fut for _, fut, _ in batch]
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self.loop.call_soon_threadsafe(self._complete, futures, results, events, reqs, self.applier.revision)

    def _apply_with_retries(self, reqs: list[WriteRequest], size: int) -> tuple[list[BatchResult], list[Event]]:
        for _ in range(_MAX_MAP_RETRIES):
            self.backend.ensure_room(size)
            try:
                return self._apply(reqs)
            except lmdb.MapFullError:
                self.backend.grow()  # _apply has already reloaded the in-memory state
        raise RuntimeError("LMDB map could not be grown enough for one batch")

    def _apply(self, reqs: list[WriteRequest]) -> tuple[list[BatchResult], list[Event]]:
        applier = self.applier
        txn = self.backend.begin_write()
        results: list[BatchResult] = []
        try:
            for req in reqs:
                try:
                    results.append(applier.apply(txn, req))
                except KVError as exc:
                    results.append(exc)
            events = applier.end_batch(txn)
            txn.commit()
        except BaseException:
            txn.abort()
            applier.restore()
            raise
        applier.committed_revision = applier.revision
        return results, events

    # ------------------------------------------------------------ back on the loop

    def _complete(
        self,
        futures: list[asyncio.Future[Any]],
        results: list[BatchResult],
        events: list[Event],
        reqs: list[WriteRequest],
        revision: int,
    ) -> None:
        # Writers first: their wake-ups queue ahead of the watchers', so the next batch can
        # form while the loop fans this one out. Nothing runs between the two steps, so a
        # writer that resumes finds its events already in every watcher's buffer.
        for fut, res in zip(futures, results, strict=True):
            if fut.done():
                continue
            if isinstance(res, BaseException):
                fut.set_exception(res)
            else:
                fut.set_result(res)
        self.on_batch(revision, events, reqs)
