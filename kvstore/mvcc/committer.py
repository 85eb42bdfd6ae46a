"""Group commit: one thread applies queued commands in batches, one LMDB commit each.

Writers on the event loop queue a command and await a future. The committer thread
takes everything queued (up to a cap), applies each command in one write transaction,
commits it (one fsync for the whole batch), then hands the results and the batch's
events back to the loop in one callback. While it waits for the disk, the next batch
gathers, so many concurrent writers share each fsync.

A commit costs far more than applying a command (two disk flushes, a wake-up of the
thread and one of the loop). When writers keep arriving while a batch commits and the
loop thread is busy (CPU is scarce), the loop gates the thread: it may take a batch
only when the loop lets it, after a gathering window that starts at _MIN_GATHER,
doubles while waiting brings more commands, up to _MAX_GATHER, and halves while it
does not; closed, the gate opens for good. The wait ends early once as many commands
are queued as the most that were waiting at once lately, since then every writer seen
lately is in. A lone writer, writers that submit together, and an idle loop are never
kept waiting. Under saturation this trades a few milliseconds of the latency queueing
already costs for much less CPU per command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
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

_Item = tuple[WriteRequest, asyncio.Future[Any], int]
_Done = tuple[list[asyncio.Future[Any]], list[BatchResult], list[Event], list[WriteRequest], int]
"""One commit's outcome: (futures, results, events, requests, revision)."""

_MAX_BATCH = 4096
_MAX_BATCH_BYTES = 16 << 20
_MAX_MAP_RETRIES = 8
_MIN_GATHER = 0.0002  # seconds: the gathering window when it opens ...
_MAX_GATHER = 0.005  # ... and at most
_PEAK_EPOCH = 1.0  # seconds: "lately", for the most commands waiting at once
_BUSY = 0.4  # share of its time the loop thread spends on CPU above which CPU is scarce
_BUSY_SPAN = 0.01  # seconds: how long the share is measured over


class Committer:
    def __init__(self, backend: Backend, applier: Applier, loop: asyncio.AbstractEventLoop, on_batch: OnBatch):
        self.backend = backend
        self.applier = applier
        self.loop = loop
        self.on_batch = on_batch
        self.batches = 0
        self.commands = 0
        self._queue: deque[_Item] = deque()
        self._cond = threading.Condition(threading.Lock())
        # Under _cond: the thread waits for commands, and for a permit while gated.
        self._gated = False
        self._permits = 0
        self._sleeping = False  # the thread is (about to be) waiting on _cond
        self._closing = False
        self._committing = 0  # commands in the batch the thread is committing (written by it)
        # Loop side only: the gathering window.
        self._window = 0.0
        self._gathering = False
        self._granted = False  # a permit is out and its batch not completed yet
        self._timer: asyncio.TimerHandle | None = None
        self._first = 0
        self._independent = 0  # commands that arrived while a batch was committing
        self._peak = self._peak_before = 0
        self._epoch_end = 0.0
        self._busy = 0.0  # share of the loop thread's time on CPU, lately
        self._busy_since = (0.0, 0.0)  # (loop time, thread CPU time) when it was last measured
        self._thread = threading.Thread(target=self._run, name="kvstore-committer", daemon=True)
        self._thread.start()

    def submit(self, req: WriteRequest, size: int) -> asyncio.Future[Any]:
        """Queue a validated command; the future resolves once it is durable."""
        if self._closing:
            raise StoreClosedError()
        fut: asyncio.Future[Any] = self.loop.create_future()
        queue = self._queue
        queue.append((req, fut, size))
        committing = self._committing
        if committing:
            self._independent += 1
        waiting = len(queue) + committing
        if waiting > self._peak:
            self._peak = waiting
        if self._gated:
            if self._timer is not None:
                if len(queue) >= max(self._peak, self._peak_before):
                    self._timer.cancel()  # every writer seen lately is in: no one else to wait for
                    self._timer = None
                    self._gathering = False
                    self._grant()
            elif not self._gathering and not self._granted and not committing:
                self._start_gather()
        if self._sleeping and (not self._gated or self._permits):
            self._notify()
        return fut

    async def close(self) -> None:
        """Commit everything queued, then stop the thread."""
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._notify()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join)

    # ------------------------------------------------------------ the gate (loop side)

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify()

    def _grant(self) -> None:
        """Let the thread take one batch (of what is queued: none if nothing is)."""
        if not self._queue:
            return
        self._granted = True
        with self._cond:
            self._permits = 1
            self._cond.notify()

    def _set_gated(self, gated: bool) -> None:
        with self._cond:
            self._gated = gated
            self._cond.notify()

    def _start_gather(self) -> None:
        self._gathering = True
        self.loop.call_soon(self._first_turn)

    def _first_turn(self) -> None:
        self._first = n = len(self._queue)  # the writers that submitted together
        if n < max(self._peak, self._peak_before):
            self._timer = self.loop.call_later(self._window, self._end_gather)
        else:
            self._end_gather()  # everyone is in already: waiting would bring nothing

    def _end_gather(self) -> None:
        self._timer = None
        self._gathering = False
        if len(self._queue) > self._first and self._busy >= _BUSY:
            self._window = min(_MAX_GATHER, self._window * 2)
        elif self._window >= 2 * _MIN_GATHER:
            self._window /= 2
        else:
            self._window = 0.0
            self._set_gated(False)
            return
        self._grant()

    # ------------------------------------------------------------ committer thread

    def _run(self) -> None:
        queue, cond = self._queue, self._cond
        while True:
            with cond:
                # Announce sleep before the last look at the queue: a submit that lands after
                # that look sees the flag and notifies.
                self._sleeping = True
                while not self._closing and (not queue or (self._gated and not self._permits)):
                    cond.wait()
                self._sleeping = False
                if not queue:
                    return  # closing, and everything is committed
                if self._gated and self._permits:
                    self._permits -= 1
            batch: list[_Item] = []
            size = 0
            while queue and len(batch) < _MAX_BATCH and size < _MAX_BATCH_BYTES:
                item = queue.popleft()
                batch.append(item)
                size += item[2]
            self._committing = len(batch)
            done = self._commit(batch, size)
            self._committing = 0
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                self.loop.call_soon_threadsafe(self._complete, done)

    def _commit(self, batch: list[_Item], size: int) -> list[_Done]:
        reqs = [req for req, _, _ in batch]
        try:
            results, events = self._apply_with_retries(reqs, size)
        except BaseException as exc:  # the batch could not be applied at all
            log.exception("batch of %d commands failed", len(batch))
            if len(batch) > 1:
                # Find the offender: retry each command on its own.
                done: list[_Done] = []
                for item in batch:
                    done += self._commit([item], item[2])
                return done
            results, events = [InternalError(exc)], []
        self.batches += 1
        self.commands += len(batch)
        return [([fut for _, fut, _ in batch], results, events, reqs, self.applier.revision)]

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

    def _complete(self, done: list[_Done]) -> None:
        # Writers first: their wake-ups queue ahead of the watchers', so the next batch can
        # form while the loop fans this one out. Nothing runs between the two steps, so a
        # writer that resumes finds its events already in every watcher's buffer.
        for futures, results, events, reqs, revision in done:
            for fut, res in zip(futures, results, strict=True):
                if fut.done():
                    continue
                if isinstance(res, BaseException):
                    fut.set_exception(res)
                else:
                    fut.set_result(res)
            self.on_batch(revision, events, reqs)
        self._granted = False
        independent, self._independent = self._independent, 0
        now = self.loop.time()
        if now >= self._epoch_end:
            self._peak_before, self._peak, self._epoch_end = self._peak, 0, now + _PEAK_EPOCH
        since, cpu_since = self._busy_since
        if now - since >= _BUSY_SPAN:
            cpu = time.thread_time()
            self._busy = (cpu - cpu_since) / (now - since)
            self._busy_since = (now, cpu)
        if not self._gated and independent >= 2 and self._busy >= _BUSY and not self._closing:
            self._window = _MIN_GATHER  # other writers keep coming: see whether waiting pays
            self._set_gated(True)
        if self._gated and self._queue and not self._gathering:
            self._start_gather()
