"""How an elector is configured (client-go LeaderElectionConfig and LeaderCallbacks).

The three durations, in seconds, with client-go's defaults and rules:

    lease_duration = 15   a candidate takes over a lease it has seen unchanged this long
    renew_deadline = 10   the leader gives up if a renewal has not succeeded this long
    retry_period   =  2   the pause between two attempts (acquire: jittered up to x2.2)

    lease_duration > renew_deadline > retry_period * JITTER_FACTOR, all > 0

Leadership is exclusive as long as the leader stops acting before anyone else may take
over: it stops at most `retry_period + renew_deadline` after its last successful write
(a renewal round starts `retry_period` after the previous one and is abandoned after
`renew_deadline`), and a follower waits `lease_duration` after seeing that write. The
defaults (2 + 10 < 15) leave three seconds for clock *rate* differences; clock *offsets*
never matter because each candidate measures only on its own clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass

from informer.leaderelection.resource_lock import ResourceLock

JITTER_FACTOR = 1.2
"""client-go's JitterFactor: acquire retries wait retry_period * (1 + rand * 1.2)."""


@dataclass(frozen=True, slots=True)
class LeadingContext:
    """What `on_started_leading` receives: client-go's context of the leading term.

    `stopped` is set when this term ends (leadership lost, renewal abandoned, or the
    elector cancelled), before the elector cancels the callback's task and before it
    releases the lease or calls `on_stopped_leading`.
    """

    identity: str
    """The candidate that leads."""
    stopped: asyncio.Event
    """Set when the term ends: await `stopped.wait()` or poll `stopped.is_set()`."""


@dataclass(frozen=True, slots=True)
class LeaderCallbacks:
    """What an elector calls as leadership changes; each may be a function or a coroutine function.

    - `on_started_leading(ctx)`: this candidate became leader. A coroutine function runs
      as a task the elector owns: when the term ends, `ctx.stopped` is set, then the task
      is cancelled and awaited. A plain function is called once and must watch
      `ctx.stopped` for whatever it starts. If the task raises, the term ends and
      `run()` raises that error (client-go: a panic in the goroutine ends the process).
    - `on_stopped_leading()`: `run()` is ending; called when `run()` returns or is
      cancelled, after the leading task has stopped, whether or not this candidate led
      (client-go defers it at the top of Run).
    - `on_new_leader(identity)`: the observed holder changed, ourselves included, and ""
      when the lease was seen released. A coroutine function runs as a task the elector
      owns (cancelled if still running when `run()` ends), so it never delays a renewal.
    """

    on_started_leading: Callable[[LeadingContext], Awaitable[None] | None]
    on_stopped_leading: Callable[[], Awaitable[None] | None]
    on_new_leader: Callable[[str], Awaitable[None] | None] | None = None


@dataclass(frozen=True, slots=True)
class LeaderElectionConfig:
    """An elector's lock, timings and callbacks; invalid values raise ValueError naming the field."""

    lock: ResourceLock
    """The lock to hold; its identity is this candidate's."""
    _: KW_ONLY
    callbacks: LeaderCallbacks
    lease_duration: float = 15.0
    """Seconds a follower waits, after last seeing the record change, before taking over."""
    renew_deadline: float = 10.0
    """Seconds the leader keeps retrying a renewal before it gives up leading."""
    retry_period: float = 2.0
    """Seconds between attempts to acquire or renew."""
    release_on_cancel: bool = False
    """Release the lease (holder "", duration 1s) when leading ends, so a follower need not wait it out."""
    name: str = ""
    """The lock's name in logs."""

    def __post_init__(self) -> None:
        errs = _validate(self)
        if errs:
            field_name, error = errs[0]
            raise ValueError(f"{field_name} {error}")


def _validate(config: LeaderElectionConfig) -> list[tuple[str, str]]:
    """NewLeaderElector's checks, in its order."""
    errs: list[tuple[str, str]] = []
    if config.lease_duration <= config.renew_deadline:
        errs.append(("lease_duration", "must be greater than renew_deadline"))
    if config.renew_deadline <= JITTER_FACTOR * config.retry_period:
        errs.append(("renew_deadline", "must be greater than retry_period*JITTER_FACTOR"))
    for field_name in ("lease_duration", "renew_deadline", "retry_period"):
        if getattr(config, field_name) <= 0:
            errs.append((field_name, "must be greater than zero"))
    if config.lease_duration < 1:
        errs.append(("lease_duration", "must be at least 1 (the Lease stores whole seconds)"))
    if not callable(config.callbacks.on_started_leading):
        errs.append(("callbacks.on_started_leading", "must not be None"))
    if not callable(config.callbacks.on_stopped_leading):
        errs.append(("callbacks.on_stopped_leading", "must not be None"))
    if not config.lock.identity():
        errs.append(("lock", "identity is empty"))
    return errs
