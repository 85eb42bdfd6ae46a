"""Leader election over Lease objects, checked against client-go tools/leaderelection.

Every test runs on the real embedded store (Registry over kvstore.open) and a fake
clock, so timings are exact and no test sleeps. Candidates reach the store through
`RecordingClient`: it delegates every call to the real registry, counts calls in
flight (so the driver knows when everybody is waiting on the clock), records every
write to the Lease with the fake time it happened at, and can be partitioned (calls
block until healed).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import pytest

import kvstore
from apimachinery.client import ResourceClient
from apimachinery.errors import AlreadyExistsError, ConflictError
from informer.leaderelection import (
    JITTER_FACTOR,
    LEASES,
    FakeClock,
    LeaderCallbacks,
    LeaderElectionConfig,
    LeaderElectionRecord,
    LeaderElector,
    LeadingContext,
    LeaseLock,
    LockNotInitializedError,
    format_micro_time,
    parse_micro_time,
)
from informer.leaderelection.clock import FAKE_EPOCH
from informer.leaderelection.resource_lock import lease_spec_from_record, record_from_lease_spec
from kvstore.registry import Registry

NS, NAME = "kube-system", "lock"


@pytest.fixture
async def registry(store: kvstore.Store) -> Registry:
    reg = Registry(store)
    await reg.bootstrap()
    return reg


# -- the harness ---------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """One write that changed the Lease."""

    at: datetime  # the true (unskewed) fake time
    by: str  # the candidate whose client wrote
    resource_version: str
    record: LeaderElectionRecord


@dataclass
class Recorder:
    clock: FakeClock
    in_flight: int = 0
    writes: list[Write] = field(default_factory=list)
    calls: list[tuple[datetime, str, str]] = field(default_factory=list)  # (at, by, verb)
    log: list[tuple[datetime, str, str]] = field(default_factory=list)  # (at, who, what): writes and callbacks

    def wrote(self, by: str, obj: dict[str, Any]) -> None:
        rv = obj["metadata"]["resourceVersion"]
        if not self.writes or self.writes[-1].resource_version != rv:  # an unchanged update writes nothing
            self.writes.append(Write(self.clock.now(), by, rv, record_from_lease_spec(obj["spec"])))
            self.log.append((self.clock.now(), by, f"wrote {self.writes[-1].record.holder_identity or '-'}"))


class RecordingClient:
    """One candidate's connection to the real registry (get, create, update delegate to it)."""

    def __init__(self, registry: Registry, recorder: Recorder, name: str) -> None:
        self.registry, self.recorder, self.name = registry, recorder, name
        self.healed = asyncio.Event()
        self.healed.set()

    def partition(self) -> None:
        self.healed.clear()

    async def _call(self, verb: str, call: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        await self.healed.wait()  # a partitioned call waits on the test, not on the store
        self.recorder.calls.append((self.recorder.clock.now(), self.name, verb))
        self.recorder.in_flight += 1
        try:
            result = await call()
        finally:
            self.recorder.in_flight -= 1
        if verb != "get":
            self.recorder.wrote(self.name, result)
        return result

    async def get(self, gvr: Any, name: str, namespace: str = "", **kw: Any) -> dict[str, Any]:
        return await self._call("get", lambda: self.registry.get(gvr, name, namespace, **kw))

    async def create(self, gvr: Any, obj: Any, namespace: str = "") -> dict[str, Any]:
        return await self._call("create", lambda: self.registry.create(gvr, obj, namespace))

    async def update(self, gvr: Any, obj: Any, namespace: str = "", **kw: Any) -> dict[str, Any]:
        return await self._call("update", lambda: self.registry.update(gvr, obj, namespace, **kw))


@dataclass
class Candidate:
    identity: str
    client: RecordingClient
    elector: LeaderElector
    task: asyncio.Task[None] | None = None
    leading: bool = False
    new_leaders: list[str] = field(default_factory=list)
    contexts: list[LeadingContext] = field(default_factory=list)


class Sim:
    """Candidates on one fake timeline; `advance()` moves time sleeper by sleeper."""

    def __init__(self, registry: Registry, clock: FakeClock | None = None) -> None:
        self.registry = registry
        self.clock = clock or FakeClock()
        self.recorder = Recorder(self.clock)
        self.candidates: dict[str, Candidate] = {}
        self.events = self.recorder.log  # (at, identity, what), in the order they happened
        self.violations: list[str] = []

    def candidate(
        self,
        identity: str,
        *,
        skew: float = 0.0,
        rand: float = 0.5,
        on_started_leading: Callable[[LeadingContext], Awaitable[None] | None] | None = None,
        **config: Any,
    ) -> Candidate:
        client = RecordingClient(self.registry, self.recorder, identity)
        lock = LeaseLock(cast(ResourceClient, client), NS, NAME, identity)
        callbacks = LeaderCallbacks(
            on_started_leading or (lambda ctx: self._lead(identity, ctx)),
            lambda: self.event(identity, "stopped"),
            lambda holder: self.candidates[identity].new_leaders.append(holder),
        )
        cfg = LeaderElectionConfig(lock, callbacks=callbacks, **config)
        elector = LeaderElector(cfg, clock=self.clock.skewed(skew), rand=lambda: rand)
        self.candidates[identity] = c = Candidate(identity, client, elector)
        return c

    async def _lead(self, identity: str, ctx: LeadingContext) -> None:
        """The guarded work: leads until cancelled, logging when it starts and ends."""
        me = self.candidates[identity]
        me.contexts.append(ctx)
        others = [c.identity for c in self.candidates.values() if c.leading]
        if others:
            self.violations.append(f"{identity} started leading at {self.clock.now()} while {others} lead")
        me.leading = True
        self.event(identity, "started")
        try:
            await asyncio.Event().wait()
        finally:
            me.leading = False
            self.event(identity, "ended")

    def event(self, identity: str, what: str) -> None:
        self.events.append((self.clock.now(), identity, what))

    def story(self, identity: str, *, writes: bool = False) -> list[str]:
        return [w for _, who, w in self.events if who == identity and (writes or not w.startswith("wrote"))]

    def times(self, identity: str, what: str) -> list[float]:
        return [self.seconds(at) for at, who, w in self.events if who == identity and w == what]

    def seconds(self, at: datetime) -> float:
        return (at - FAKE_EPOCH).total_seconds()

    def start(self, *identities: str) -> None:
        for identity in identities:
            c = self.candidates[identity]
            c.task = asyncio.create_task(c.elector.run(), name=f"candidate-{identity}")

    async def stop(self, identity: str) -> None:
        """Cancel a candidate's run() (a crash unless it releases on cancel) and wait for it."""
        task = self.candidates[identity].task
        assert task is not None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self.settle()

    async def settle(self) -> None:
        """Wait until no call is in flight and the loop has gone round idle: all wait on the clock."""
        quiet = 0
        for _ in range(100_000):
            if self.recorder.in_flight:
                quiet = 0
                await asyncio.sleep(0.0005)
            else:
                quiet += 1
                if quiet >= 50:
                    return
                await asyncio.sleep(0)
        raise AssertionError("the candidates never settled")

    async def advance(self, seconds: float) -> None:
        """Move the fake time `seconds` on, waking each sleeper at its deadline, checking as it goes."""
        target = self.clock.now() + timedelta(seconds=seconds)
        await self.settle()
        self.check()
        while (deadline := self.clock.next_deadline()) is not None and deadline <= target:
            self.clock.step()
            await self.settle()
            self.check()
        self.clock.advance((target - self.clock.now()).total_seconds())
        await self.settle()
        self.check()

    def check(self) -> None:
        """Invariants at this instant: one leader at most, and the Lease names whoever leads."""
        assert not self.violations
        leaders = [c.identity for c in self.candidates.values() if c.leading]
        assert len(leaders) <= 1, leaders
        if leaders:
            assert self.recorder.writes[-1].record.holder_identity == leaders[0]

    def leader(self) -> str:
        leaders = [c.identity for c in self.candidates.values() if c.leading]
        assert len(leaders) == 1, leaders
        return leaders[0]

    def last_write_by(self, identity: str) -> Write:
        return [w for w in self.recorder.writes if w.by == identity][-1]

    async def shutdown(self) -> None:
        for c in self.candidates.values():
            c.client.healed.set()
            if c.task is not None and not c.task.done():
                await self.stop(c.identity)


def check_lease_history(writes: list[Write]) -> None:
    """The Lease's history obeys the protocol: only the holder writes a lease it holds (renew
    or release); a takeover comes a full lease duration after the last write of a live
    holder and counts one more transition; a renewal keeps acquireTime and transitions."""
    assert writes[0].record.leader_transitions == 0
    assert writes[0].by == writes[0].record.holder_identity
    for prev, cur in itertools.pairwise(writes):
        old, new = prev.record, cur.record
        if new.holder_identity == old.holder_identity and new.holder_identity:
            assert cur.by == new.holder_identity, (prev, cur)
            assert new.acquire_time == old.acquire_time and new.leader_transitions == old.leader_transitions
        elif not new.holder_identity:
            assert cur.by == old.holder_identity, (prev, cur)
            assert new.lease_duration_seconds == 1 and new.leader_transitions == old.leader_transitions
        else:
            assert cur.by == new.holder_identity, (prev, cur)
            assert new.leader_transitions == old.leader_transitions + 1, (prev, cur)
            assert new.acquire_time == new.renew_time, (prev, cur)
            if old.holder_identity:
                assert cur.at >= prev.at + timedelta(seconds=old.lease_duration_seconds), (prev, cur)


@contextlib.asynccontextmanager
async def simulation(registry: Registry) -> Any:
    sim = Sim(registry)
    try:
        yield sim
    finally:
        await sim.shutdown()


def step_elector(registry: Registry, identity: str, clock: FakeClock, **config: Any) -> LeaderElector:
    """An elector driven one attempt at a time (`try_acquire_or_renew`), not by run()."""
    lock = LeaseLock(registry, NS, NAME, identity)
    callbacks = LeaderCallbacks(lambda ctx: None, lambda: None)
    return LeaderElector(LeaderElectionConfig(lock, callbacks=callbacks, **config), clock=clock)


async def lease_spec(registry: Registry) -> dict[str, Any]:
    return cast(dict[str, Any], (await registry.get(LEASES, NAME, NS))["spec"])


# -- LeaderElectionConfig ------------------------------------------------------------


def noop_callbacks() -> LeaderCallbacks:
    return LeaderCallbacks(lambda ctx: None, lambda: None)


async def test_config_defaults_match_client_go(registry: Registry) -> None:
    """Core clients' defaults (LeaseDuration 15s, RenewDeadline 10s, RetryPeriod 2s), JitterFactor 1.2."""
    config = LeaderElectionConfig(LeaseLock(registry, NS, NAME, "a"), callbacks=noop_callbacks())
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (15, 10, 2)
    assert config.release_on_cancel is False and config.name == ""
    assert JITTER_FACTOR == 1.2


@pytest.mark.parametrize(
    ("name", "overrides", "message"),
    [
        (
            "lease not longer than deadline",
            {"lease_duration": 10},
            "lease_duration must be greater than renew_deadline",
        ),
        (
            "deadline within a jittered retry",
            {"renew_deadline": 2.4, "retry_period": 2},
            "renew_deadline must be greater than retry_period*JITTER_FACTOR",
        ),
        ("retry period zero", {"retry_period": 0}, "retry_period must be greater than zero"),
        (
            "all negative",
            {"lease_duration": -1, "renew_deadline": -2, "retry_period": -3},
            "lease_duration must be greater than zero",
        ),
        ("deadline zero", {"renew_deadline": 0, "retry_period": -1}, "renew_deadline must be greater than zero"),
        (
            "lease under a second",
            {"lease_duration": 0.9, "renew_deadline": 0.5, "retry_period": 0.1},
            "lease_duration must be at least 1",
        ),
        ("no identity", {"identity": ""}, "lock identity is empty"),
        ("no start callback", {"on_started_leading": None}, "callbacks.on_started_leading must not be None"),
        ("no stop callback", {"on_stopped_leading": None}, "callbacks.on_stopped_leading must not be None"),
    ],
)
async def test_new_leader_elector_validates_config(
    registry: Registry, name: str, overrides: dict[str, Any], message: str
) -> None:
    """NewLeaderElector's checks: leaseDuration > renewDeadline > retryPeriod*JitterFactor, each > 0,
    both OnStartedLeading and OnStoppedLeading set, a lock identity; the error names the field."""
    starts = overrides.pop("on_started_leading", lambda ctx: None)
    stops = overrides.pop("on_stopped_leading", lambda: None)
    lock = LeaseLock(registry, NS, NAME, overrides.pop("identity", "a"))
    with pytest.raises(ValueError, match=message.replace("*", r"\*")):
        LeaderElectionConfig(lock, callbacks=LeaderCallbacks(starts, stops), **overrides)


# -- LeaseLock -----------------------------------------------------------------------


async def test_lease_lock_maps_record_to_lease_spec(registry: Registry) -> None:
    """LeaderElectionRecordToLeaseSpec / LeaseSpecToLeaderElectionRecord: holderIdentity,
    leaseDurationSeconds, acquireTime and renewTime as MicroTime, leaseTransitions."""
    acquired = datetime.fromisoformat("2024-05-06T07:08:09.123456+00:00")
    record = LeaderElectionRecord("a", 15, acquired, acquired + timedelta(seconds=2.5), 3)
    lock = LeaseLock(registry, NS, NAME, "a", labels={"app": "kcm"})
    await lock.create(record)
    lease = await registry.get(LEASES, NAME, NS)
    assert lease["metadata"]["labels"] == {"app": "kcm"}
    assert lease["spec"] == {
        "holderIdentity": "a",
        "leaseDurationSeconds": 15,
        "acquireTime": "2024-05-06T07:08:09.123456Z",
        "renewTime": "2024-05-06T07:08:11.623456Z",
        "leaseTransitions": 3,
    }
    assert await LeaseLock(registry, NS, NAME, "b").get() == record


async def test_lease_spec_without_fields_is_the_zero_record() -> None:
    """LeaseSpecToLeaderElectionRecord: a nil field reads as its zero value."""
    assert record_from_lease_spec({}) == LeaderElectionRecord()
    assert lease_spec_from_record(LeaderElectionRecord()) == {
        "holderIdentity": "",
        "leaseDurationSeconds": 0,
        "leaseTransitions": 0,
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05.123456Z", "2024-01-02T03:04:05.123456Z"),
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05.000000Z"),
        ("2024-01-02T03:04:05.123456789Z", "2024-01-02T03:04:05.123456Z"),  # RFC3339Nano, cut to micros
        ("2024-01-02T05:04:05.5+02:00", "2024-01-02T03:04:05.500000Z"),
    ],
)
def test_micro_time_is_rfc3339_with_microseconds(text: str, expected: str) -> None:
    """metav1.MicroTime: RFC 3339 with six fractional digits in UTC; parsing accepts any precision and offset."""
    parsed = parse_micro_time(text)
    assert parsed is not None
    assert format_micro_time(parsed) == expected
    assert parse_micro_time("") is None and parse_micro_time(None) is None
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_micro_time("yesterday")


async def test_lease_lock_update_carries_the_resource_version_read(registry: Registry) -> None:
    """LeaseLock.Update sends the Lease as last read or written: a write in between is a Conflict."""
    mine, theirs = LeaseLock(registry, NS, NAME, "a"), LeaseLock(registry, NS, NAME, "b")
    await mine.create(LeaderElectionRecord("a", 15))
    await theirs.get()
    await theirs.update(LeaderElectionRecord("b", 15, leader_transitions=1))
    with pytest.raises(ConflictError):
        await mine.update(LeaderElectionRecord("a", 15))
    assert (await mine.get()).holder_identity == "b"
    await mine.update(LeaderElectionRecord("a", 15, leader_transitions=2))
    assert (await lease_spec(registry))["holderIdentity"] == "a"
    with pytest.raises(AlreadyExistsError):
        await LeaseLock(registry, NS, NAME, "c").create(LeaderElectionRecord("c", 15))


async def test_lease_lock_update_before_get_fails(registry: Registry) -> None:
    """LeaseLock.Update: "lease not initialized, call get or create first"."""
    with pytest.raises(LockNotInitializedError, match="call get or create first"):
        await LeaseLock(registry, NS, NAME, "a").update(LeaderElectionRecord("a", 15))


# -- one attempt at a time -----------------------------------------------------------


async def test_try_acquire_creates_the_lease_when_missing(registry: Registry) -> None:
    """tryAcquireOrRenew, lock not found: create it holding ourselves; acquireTime = renewTime = now."""
    clock = FakeClock()
    a = step_elector(registry, "a", clock)
    assert a.get_leader() == "" and not a.is_leader()
    assert await a.try_acquire_or_renew()
    assert a.is_leader() and a.get_leader() == "a"
    now = format_micro_time(clock.now())
    assert await lease_spec(registry) == {
        "holderIdentity": "a",
        "leaseDurationSeconds": 15,
        "acquireTime": now,
        "renewTime": now,
        "leaseTransitions": 0,
    }


async def test_renew_keeps_acquire_time_and_transitions(registry: Registry) -> None:
    """tryAcquireOrRenew as leader: AcquireTime and LeaderTransitions copied from the record, RenewTime = now."""
    clock = FakeClock()
    a = step_elector(registry, "a", clock)
    assert await a.try_acquire_or_renew()
    acquired = clock.now()
    for _ in range(3):
        clock.advance(2)
        assert await a.try_acquire_or_renew()
        spec = await lease_spec(registry)
        assert spec["acquireTime"] == format_micro_time(acquired)
        assert spec["renewTime"] == format_micro_time(clock.now())
        assert spec["leaseTransitions"] == 0


async def test_taking_over_an_expired_lease_increments_transitions(registry: Registry) -> None:
    """tryAcquireOrRenew as a follower: LeaderTransitions + 1, AcquireTime = now; the old
    leader's optimistic update then conflicts and it sees the new holder."""
    clock = FakeClock()
    a, b = step_elector(registry, "a", clock), step_elector(registry, "b", clock)
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    assert b.get_leader() == "a" and not b.is_leader()
    clock.advance(15)
    assert await b.try_acquire_or_renew()
    spec = await lease_spec(registry)
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
    assert spec["acquireTime"] == spec["renewTime"] == format_micro_time(clock.now())
    assert not await a.try_acquire_or_renew()  # fast path conflicts; slow path sees b's fresh lease
    assert a.get_leader() == "b" and not a.is_leader()
    clock.advance(15)
    assert await a.try_acquire_or_renew()
    assert (await lease_spec(registry))["leaseTransitions"] == 2


async def test_lease_validity_is_measured_from_local_observation_not_renew_time(registry: Registry) -> None:
    """isLeaseValid: observedTime + LeaseDuration > now, both on the candidate's own clock; the
    record's RenewTime, stamped by another machine, is never compared (clock skew does not matter)."""
    clock = FakeClock()
    behind = step_elector(registry, "behind", clock.skewed(-3600))
    ahead = step_elector(registry, "ahead", clock.skewed(+3600))
    assert await behind.try_acquire_or_renew()  # renewTime two hours before `ahead`'s clock
    assert not await ahead.try_acquire_or_renew()
    clock.advance(14.999999)
    assert not await ahead.try_acquire_or_renew()  # unchanged for less than 15s of ahead's clock
    clock.advance(0.000001)
    assert await ahead.try_acquire_or_renew()  # renewTime now two hours in `behind`'s future
    assert not await behind.try_acquire_or_renew()
    clock.advance(14.999999)
    assert not await behind.try_acquire_or_renew()
    clock.advance(0.000001)
    assert await behind.try_acquire_or_renew()  # 15s after it saw the change, not two hours
    assert (await lease_spec(registry))["leaseTransitions"] == 2


async def test_new_candidate_waits_a_full_lease_duration_from_its_first_observation(registry: Registry) -> None:
    """LeaseDuration doc: a client must wait a full LeaseDuration without observing a change,
    even for a record last renewed long ago (candidates restarted against an old lease)."""
    clock = FakeClock()
    old = step_elector(registry, "old", clock)
    assert await old.try_acquire_or_renew()
    clock.advance(3600)  # `old` is long gone
    fresh = step_elector(registry, "fresh", clock)
    assert not await fresh.try_acquire_or_renew()
    clock.advance(14)
    assert not await fresh.try_acquire_or_renew()
    clock.advance(1)
    assert await fresh.try_acquire_or_renew()


async def test_candidates_racing_for_an_expired_lease_one_wins(registry: Registry) -> None:
    """Lock.Update carries the resourceVersion read: of candidates taking over at the same
    moment, exactly one write succeeds and transitions count once."""
    clock = FakeClock()
    old = step_elector(registry, "old", clock)
    assert await old.try_acquire_or_renew()
    racers = [step_elector(registry, name, clock) for name in ("b", "c", "d")]
    assert not any([await r.try_acquire_or_renew() for r in racers])
    clock.advance(15)
    won = await asyncio.gather(*(r.try_acquire_or_renew() for r in racers))
    assert won.count(True) == 1
    winner = racers[won.index(True)].config.lock.identity()
    losers = [r for r in racers if not r.is_leader()]
    # A loser whose update conflicted still knows "old" (a conflict teaches nothing); one whose
    # read came after the winner's write (the calls interleave differently over gRPC) knows the winner.
    assert all(r.get_leader() in ("old", winner) for r in losers)
    assert not any([await r.try_acquire_or_renew() for r in losers])
    assert [r.get_leader() for r in losers] == [winner, winner]  # ...the next read does
    spec = await lease_spec(registry)
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == (winner, 1)


async def test_a_released_lease_is_taken_at_once(registry: Registry) -> None:
    """release(): HolderIdentity "", LeaseDurationSeconds 1, transitions kept; an empty holder
    lets the next attempt acquire without waiting."""
    clock = FakeClock()
    a, b = step_elector(registry, "a", clock), step_elector(registry, "b", clock)
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    assert await a.release()
    spec = await lease_spec(registry)
    assert (spec["holderIdentity"], spec["leaseDurationSeconds"], spec["leaseTransitions"]) == ("", 1, 0)
    assert not a.is_leader()
    assert await a.release()  # not the leader: nothing to do
    assert await b.try_acquire_or_renew()
    assert (await lease_spec(registry))["leaseTransitions"] == 1


# -- run() ---------------------------------------------------------------------------


async def test_run_acquires_then_renews_every_retry_period(registry: Registry) -> None:
    """Run: acquire, OnStartedLeading, then a renewal (fast path) every RetryPeriod."""
    async with simulation(registry) as sim:
        sim.candidate("a")
        sim.start("a")
        await sim.advance(10)
        assert sim.times("a", "started") == [0.0]
        assert [sim.seconds(w.at) for w in sim.recorder.writes] == [0, 2, 4, 6, 8, 10]
        assert [verb for _, _, verb in sim.recorder.calls[:3]] == ["get", "create", "update"]
        assert all(verb == "update" for _, _, verb in sim.recorder.calls[3:])  # no reads while renewing
        assert sim.candidates["a"].elector.is_leader()
        check_lease_history(sim.recorder.writes)


async def test_acquire_retries_every_jittered_retry_period(registry: Registry) -> None:
    """acquire: wait.JitterUntil(RetryPeriod, JitterFactor 1.2, sliding): attempts are
    RetryPeriod * (1 + rand * 1.2) apart."""
    async with simulation(registry) as sim:
        sim.candidate("a")
        sim.start("a")
        await sim.settle()
        sim.candidate("b", rand=0.25)  # 2 * (1 + 0.25 * 1.2) = 2.6s
        sim.start("b")
        await sim.advance(10)
        b_reads = [sim.seconds(at) for at, who, verb in sim.recorder.calls if who == "b"]
        assert b_reads == pytest.approx([0, 2.6, 5.2, 7.8])


async def test_renew_deadline_stops_leading(registry: Registry) -> None:
    """renew: when no renewal succeeds within RenewDeadline (retrying every RetryPeriod), the
    leader stops: its context is cancelled, OnStoppedLeading is called, Run returns."""
    async with simulation(registry) as sim:
        a = sim.candidate("a")
        sim.start("a")
        await sim.advance(5)
        lease = await registry.get(LEASES, NAME, NS)  # someone else writes the lease, as holder
        lease["spec"] = lease_spec_from_record(LeaderElectionRecord("intruder", 3600))
        await registry.update(LEASES, lease, NS)
        await sim.advance(20)
        assert sim.times("a", "ended") == [16.0]  # the round starting at 6 gives up at 6 + 10
        assert sim.times("a", "stopped") == [16.0]
        assert a.task is not None and a.task.done() and a.task.exception() is None
        assert a.contexts[0].stopped.is_set()
        assert a.elector.get_leader() == "intruder" and not a.elector.is_leader()
        tries = [sim.seconds(at) for at, _, verb in sim.recorder.calls if verb == "get"]
        assert tries == [0, 6, 8, 10, 12, 14]  # acquire; then after the failed fast path, every 2s


async def test_renew_deadline_cuts_off_a_hung_call_and_the_other_takes_over(registry: Registry) -> None:
    """renew: the renewal runs under a RenewDeadline timeout, so a leader cut off from the API
    stops leading before a follower may take over (LeaseDuration after it last saw a renewal)."""
    async with simulation(registry) as sim:
        a = sim.candidate("a")
        sim.start("a")
        await sim.settle()
        sim.candidate("b")
        sim.start("b")
        await sim.advance(10.5)
        a.client.partition()
        await sim.advance(30)
        assert sim.times("a", "stopped") == [22.0]  # the round starting at 12 hangs, abandoned at 22
        assert a.task is not None and a.task.done()
        (b_start,) = sim.times("b", "started")
        assert b_start >= sim.seconds(sim.last_write_by("a").at) + 15 > 22
        check_lease_history(sim.recorder.writes)


async def test_two_electors_leader_crash_the_other_takes_over_after_lease_duration(registry: Registry) -> None:
    """Two candidates: exactly one leads; when the leader dies without releasing, the other
    acquires once it has seen the record unchanged for LeaseDuration."""
    async with simulation(registry) as sim:
        sim.candidate("a")
        sim.candidate("b")
        sim.start("a")
        await sim.settle()
        sim.start("b")
        await sim.advance(10)
        assert sim.leader() == "a"
        await sim.stop("a")  # a crash: no release
        crashed = sim.seconds(sim.last_write_by("a").at)
        await sim.advance(30)
        (b_start,) = sim.times("b", "started")
        assert crashed + 15 <= b_start <= crashed + 15 + 2 * 2 * (1 + JITTER_FACTOR)
        assert sim.leader() == "b"
        assert sim.candidates["a"].new_leaders == ["a"]
        assert sim.candidates["b"].new_leaders == ["a", "b"]
        check_lease_history(sim.recorder.writes)
        assert sim.recorder.writes[-1].record.leader_transitions == 1


async def test_two_electors_release_on_cancel_lets_the_other_take_over_quickly(registry: Registry) -> None:
    """ReleaseOnCancel: on cancel the leader writes HolderIdentity "" and LeaseDurationSeconds 1;
    the follower acquires at its next attempt instead of waiting LeaseDuration."""
    async with simulation(registry) as sim:
        sim.candidate("a", release_on_cancel=True)
        sim.candidate("b", release_on_cancel=True)
        sim.start("a")
        await sim.settle()
        sim.start("b")
        await sim.advance(10)
        await sim.stop("a")
        release = sim.recorder.writes[-1]
        assert (release.by, release.record.holder_identity, release.record.lease_duration_seconds) == ("a", "", 1)
        assert sim.seconds(release.at) == 10
        # a's guarded work ended before the release was written, and on_stopped_leading came last
        assert sim.story("a", writes=True)[-4:] == ["wrote a", "ended", "wrote -", "stopped"]
        assert sim.story("a") == ["started", "ended", "stopped"]
        await sim.advance(10)
        (b_start,) = sim.times("b", "started")
        assert 10 < b_start <= 10 + 2 * (1 + JITTER_FACTOR)
        assert sim.candidates["b"].new_leaders == ["a", "b"]
        check_lease_history(sim.recorder.writes)
        assert sim.recorder.writes[-1].record.leader_transitions == 1


async def test_three_electors_exactly_one_leads_through_crash_and_release(registry: Registry) -> None:
    """Three candidates with clocks an hour apart, started together: one create wins, and
    through a crash and a release exactly one leads at any time; the Lease history as
    watched matches every write, and each change of holder counts one transition."""
    stream = await registry.watch(LEASES, NS, field_selector=f"metadata.name={NAME}")
    watched: list[tuple[str, LeaderElectionRecord]] = []

    async def consume() -> None:
        async for event in stream:
            obj = event["object"]
            watched.append((obj["metadata"]["resourceVersion"], record_from_lease_spec(obj["spec"])))

    watcher = asyncio.create_task(consume())
    try:
        async with simulation(registry) as sim:
            for identity, skew, rand in (("a", 0, 0.1), ("b", 3600, 0.5), ("c", -3600, 0.9)):
                sim.candidate(identity, skew=skew, rand=rand, release_on_cancel=identity != "a")
            sim.start("a", "b", "c")
            await sim.advance(20)
            first = sim.leader()
            await sim.stop(first)  # crash (a) or release (b, c)
            await sim.advance(30)
            second = sim.leader()
            assert second != first
            await sim.stop(second)
            await sim.advance(30)
            third = sim.leader()
            assert {first, second, third} == {"a", "b", "c"}
            assert sim.candidates[third].new_leaders[-1] == third
            writes = sim.recorder.writes
            check_lease_history(writes)
            assert writes[-1].record.leader_transitions == 2
            for _ in range(1000):  # let the watch catch up with the last write (real time)
                if watched and watched[-1][0] == writes[-1].resource_version:
                    break
                await asyncio.sleep(0.002)
            assert watched == [(w.resource_version, w.record) for w in writes]
    finally:
        stream.stop()
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def test_run_calls_on_stopped_leading_even_if_it_never_led(registry: Registry) -> None:
    """Run defers OnStoppedLeading before acquiring: it is called when Run ends, leader or not."""
    async with simulation(registry) as sim:
        sim.candidate("a")
        sim.candidate("b")
        sim.start("a")
        await sim.settle()
        sim.start("b")
        await sim.advance(5)
        await sim.stop("b")
        assert sim.story("b", writes=True) == ["stopped"]
        assert sim.leader() == "a"


async def test_a_failing_leading_task_ends_the_term(registry: Registry) -> None:
    """OnStartedLeading runs beside the renewals; when it fails, the term ends (client-go: the
    panic ends the process): renewals stop, the lease is released, Run raises the error."""

    async def lead_then_fail(ctx: LeadingContext) -> None:
        await sim.clock.sleep(5)
        raise RuntimeError("controller broke")

    async with simulation(registry) as sim:
        a = sim.candidate("a", release_on_cancel=True, on_started_leading=lead_then_fail)
        sim.start("a")
        await sim.advance(10)
        assert a.task is not None and a.task.done()
        with pytest.raises(RuntimeError, match="controller broke"):
            a.task.result()
        assert sim.times("a", "stopped") == [5.0]
        last = sim.recorder.writes[-1]
        assert (sim.seconds(last.at), last.record.holder_identity) == (5.0, "")


async def test_plain_on_started_leading_gets_a_context_stopped_when_the_term_ends(registry: Registry) -> None:
    """OnStartedLeading(ctx): ctx is done once leadership ends (here: a plain function, not a task)."""
    contexts: list[LeadingContext] = []
    async with simulation(registry) as sim:
        sim.candidate("a", on_started_leading=contexts.append)
        sim.start("a")
        await sim.advance(3)
        (ctx,) = contexts
        assert ctx.identity == "a" and not ctx.stopped.is_set()
        await sim.stop("a")
        assert ctx.stopped.is_set()


async def test_fake_clock_wakes_sleepers_in_deadline_order() -> None:
    """The fake clock behind every timing test: sleepers wake at their deadline, in order;
    skewed views share the timeline."""
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, view: FakeClock, seconds: float) -> None:
        await view.sleep(seconds)
        woke.append((name, (clock.now() - FAKE_EPOCH).total_seconds()))

    tasks = [asyncio.create_task(sleeper(n, clock.skewed(k), s)) for n, k, s in (("x", 0, 3), ("y", 60, 1))]
    await asyncio.sleep(0)
    assert clock.skewed(60).now() == clock.now() + timedelta(seconds=60)
    assert clock.skewed(60).next_deadline() == clock.now() + timedelta(seconds=61)
    clock.advance(0.5)
    assert woke == []
    while clock.step():
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert woke == [("y", 1.0), ("x", 3.0)]
