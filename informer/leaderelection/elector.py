"""The leader elector (client-go tools/leaderelection LeaderElector), for asyncio.

`run()` is one candidacy: acquire, lead while renewing, stop.

    acquire   try_acquire_or_renew() now, then after retry_period * (1 + rand*1.2), ...
              until it succeeds
    lead      on_started_leading(ctx) starts; renewal rounds run every retry_period:
              a round retries every retry_period until a renewal succeeds, and is
              abandoned after renew_deadline (an API call that hangs is cut off too)
    stop      when a round is abandoned, or run() is cancelled, or the leading task
              fails: ctx.stopped is set, the leading task is cancelled and awaited,
              the lease is released if release_on_cancel, on_stopped_leading() runs

One attempt, `try_acquire_or_renew()`, decides from the record it reads:

    we lead and our lease is still valid    write our renewal over the version we last
                                            wrote (fast path); on a conflict, go on
    no lock object                          create it, holding it ourselves
    someone else holds a valid lease        fail (and remember what we saw, and when)
    otherwise (expired, released, or ours)  write ourselves as holder over the version
                                            just read: acquireTime and leaseTransitions
                                            kept when it was ours, transitions + 1 if not

"Valid" is judged only on this candidate's clock: a lease is valid until
`lease_duration_seconds` after the local instant at which this elector last saw the
record change (`observed_time`). The record's renewTime, written by another machine's
clock, is never compared with ours, so clock offsets between candidates cannot make a
live lease look expired. Every write carries the resourceVersion this lock last read
or wrote, so of two candidates racing for an expired lease only one write succeeds.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from apimachinery.errors import NotFoundError, StatusError
from informer.leaderelection.clock import Clock, RealClock
from informer.leaderelection.config import JITTER_FACTOR, LeaderElectionConfig, LeadingContext
from informer.leaderelection.resource_lock import LeaderElectionRecord

logger = logging.getLogger(__name__)


class LeaderElector:
    """A candidate for the lease of `config.lock`; `run()` it in a task, cancel the task to stop.

    One `run()` at a time per elector (and per lock).
    """

    def __init__(
        self,
        config: LeaderElectionConfig,
        *,
        clock: Clock | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self._clock: Clock = clock or RealClock()
        self._rand = rand
        """A source of floats in [0, 1) for the acquire jitter."""
        self._identity = config.lock.identity()
        self._observed_record = LeaderElectionRecord()
        self._observed_time: datetime | None = None
        """Local time at which `_observed_record` was set: when a read found it different
        from the previous observation, or when we wrote it. None before the first."""
        self._reported_leader = ""
        """The holder last passed to on_new_leader; lags `_observed_record` until reported."""
        self._notifications: set[asyncio.Future[None]] = set()
        """on_new_leader coroutines still running; cancelled when run() ends."""

    # -- what this elector has observed ---------------------------------------------

    def get_leader(self) -> str:
        """The holder of the last observed record ("" if none observed, or released)."""
        return self._observed_record.holder_identity

    def is_leader(self) -> bool:
        """Whether the last observed record names this candidate.

        An observation, not a guarantee: code guarded by the lease runs between
        on_started_leading and `ctx.stopped`.
        """
        return self._observed_record.holder_identity == self._identity

    @property
    def observed_record(self) -> LeaderElectionRecord:
        return self._observed_record

    @property
    def observed_time(self) -> datetime | None:
        return self._observed_time

    def _describe(self) -> str:
        lock = self.config.lock.describe()
        return f"{self.config.name} ({lock})" if self.config.name else lock

    def _set_observed(self, record: LeaderElectionRecord) -> None:
        self._observed_record = record
        self._observed_time = self._clock.now()

    def _lease_valid(self, now: datetime) -> bool:
        if self._observed_time is None:
            return False
        return self._observed_time + timedelta(seconds=self._observed_record.lease_duration_seconds) > now

    # -- the candidacy -------------------------------------------------------------

    async def run(self) -> None:
        """Acquire, lead, renew; return when a renewal round fails. Cancel to stop.

        A cancellation propagates once the lease is released (with release_on_cancel)
        and on_stopped_leading has run. An error raised by the leading task ends the
        term and propagates from here.
        """
        try:
            await self._acquire()
            await self._lead()
        finally:
            try:
                await _call(self.config.callbacks.on_stopped_leading)
            finally:
                await _stop_all(self._notifications)

    async def _acquire(self) -> None:
        logger.info("attempting to acquire leader lease %s...", self._describe())
        while True:
            succeeded = await self.try_acquire_or_renew()
            self._maybe_report_transition()
            if succeeded:
                logger.info("successfully acquired lease %s", self._describe())
                return
            period = self.config.retry_period
            await self._clock.sleep(period + self._rand() * JITTER_FACTOR * period)

    async def _lead(self) -> None:
        ctx = LeadingContext(self._identity, asyncio.Event())
        renewing = asyncio.create_task(self._renew(), name=f"leaderelection-renew-{self._identity}")
        leading: asyncio.Future[None] | None = None
        try:
            started = self.config.callbacks.on_started_leading(ctx)
            if started is not None:
                leading = _spawn(started, f"leaderelection-leading-{self._identity}")
            await _until_term_ends(renewing, leading)
        finally:
            ctx.stopped.set()
            await _stop_all({renewing} if leading is None else {renewing, leading})
            if self.config.release_on_cancel:
                await self._within(self.config.renew_deadline, self.release())
            logger.info("stopped leading %s", self._describe())

    async def _renew(self) -> None:
        """Renewal rounds every retry_period until one fails to renew within renew_deadline."""
        while True:
            renewed = await self._within(self.config.renew_deadline, self._renew_round())
            self._maybe_report_transition()
            if not renewed:
                logger.info("failed to renew lease %s: timed out", self._describe())
                return
            await self._clock.sleep(self.config.retry_period)

    async def _renew_round(self) -> bool:
        """Try now, then every retry_period, until a renewal succeeds or the deadline passes."""
        deadline = self._clock.now() + timedelta(seconds=self.config.renew_deadline)
        while not await self.try_acquire_or_renew():
            await self._clock.sleep(self.config.retry_period)
            if self._clock.now() >= deadline:
                return False
        return True

    async def _within(self, seconds: float, attempt: Coroutine[Any, Any, bool]) -> bool:
        """The attempt's result, or False if it has not finished after `seconds` (it is cancelled)."""
        work = asyncio.create_task(attempt)
        timer = asyncio.create_task(self._clock.sleep(seconds))
        try:
            await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await _stop_all({timer} if work.done() else {work, timer})
        return False if work.cancelled() else work.result()

    # -- one attempt -----------------------------------------------------------------

    async def try_acquire_or_renew(self) -> bool:
        """One attempt to acquire the lease or renew ours; True if we hold it now.

        `run()` calls it; exposed for tests and for loops of one's own.
        """
        now = self._clock.now()
        desired = LeaderElectionRecord(self._identity, int(self.config.lease_duration), now, now, 0)
        if self.is_leader() and self._lease_valid(now):
            mine = self._observed_record
            renewal = replace(desired, acquire_time=mine.acquire_time, leader_transitions=mine.leader_transitions)
            if await self._write(self.config.lock.update, renewal, "failed to renew optimistically"):
                return True
        try:
            current = await self.config.lock.get()
        except NotFoundError:
            return await self._write(self.config.lock.create, desired, "error creating the leader election record")
        except Exception as err:
            _log_failure(f"error retrieving resource lock {self._describe()}", err)
            return False
        if current != self._observed_record:
            self._set_observed(current)
        if current.holder_identity and self._lease_valid(now) and not self.is_leader():
            logger.debug("lock is held by %s and has not yet expired", current.holder_identity)
            return False
        if self.is_leader():
            desired = replace(desired, acquire_time=current.acquire_time, leader_transitions=current.leader_transitions)
        else:
            desired = replace(desired, leader_transitions=current.leader_transitions + 1)
        return await self._write(self.config.lock.update, desired, "failed to update lock")

    async def release(self) -> bool:
        """Give the lease up if we hold it: holder "", duration 1s, transitions kept."""
        if not self.is_leader():
            return True
        now = self._clock.now()
        released = LeaderElectionRecord("", 1, now, now, self._observed_record.leader_transitions)
        return await self._write(self.config.lock.update, released, "failed to release lock")

    async def _write(
        self,
        write: Callable[[LeaderElectionRecord], Awaitable[None]],
        record: LeaderElectionRecord,
        failure: str,
    ) -> bool:
        try:
            await write(record)
        except Exception as err:
            _log_failure(f"{failure} {self._describe()}", err)
            return False
        self._set_observed(record)
        return True

    def _maybe_report_transition(self) -> None:
        holder = self._observed_record.holder_identity
        if holder == self._reported_leader:
            return
        self._reported_leader = holder
        on_new_leader = self.config.callbacks.on_new_leader
        if on_new_leader is None:
            return
        try:
            result = on_new_leader(holder)
        except Exception:
            logger.exception("on_new_leader(%r) failed", holder)
            return
        if result is not None:
            task = _spawn(result, f"leaderelection-new-leader-{holder}")
            self._notifications.add(task)
            task.add_done_callback(self._notification_done)

    def _notification_done(self, task: asyncio.Future[None]) -> None:
        self._notifications.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("on_new_leader failed", exc_info=task.exception())


async def _until_term_ends(renewing: asyncio.Task[None], leading: asyncio.Future[None] | None) -> None:
    """Wait for renewal to give up; a leading task that returns is fine, one that raises ends the term."""
    waiting: set[asyncio.Future[None]] = {renewing} if leading is None else {renewing, leading}
    while not renewing.done():
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if leading is not None and leading in done:
            leading.result()
            waiting.discard(leading)
    renewing.result()


async def _stop_all(futures: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel what has not finished and wait until all have; errors of the cancelled are logged."""
    pending = [f for f in futures if not f.done()]
    for future in pending:
        future.cancel()
    if pending:
        await asyncio.wait(pending)
    for future in pending:
        if not future.cancelled() and future.exception() is not None:
            logger.error("error while stopping %r", future, exc_info=future.exception())


def _spawn(awaitable: Awaitable[None], name: str) -> asyncio.Future[None]:
    if inspect.iscoroutine(awaitable):
        return asyncio.create_task(awaitable, name=name)
    return asyncio.ensure_future(awaitable)


async def _call(callback: Callable[[], Awaitable[None] | None]) -> None:
    result = callback()
    if result is not None:
        await result


def _log_failure(what: str, err: Exception) -> None:
    if isinstance(err, StatusError):
        logger.warning("%s: %s", what, err)
    else:
        logger.warning("%s", what, exc_info=err)
