"""Stateful test of the watch hub's bookkeeping: where each watcher is, and what it is owed.

etcd's watchableStore keeps every watcher in exactly one of two sets, synced (fed live
events) and unsynced (catching up from history), and moves it between them without losing
or repeating an event. Hypothesis drives many watchers of a few ranges and option variants
against a real store with a tiny watch buffer (so that group-committed batches overflow
it), small responses (so that one batch reaches a watcher in several pieces) and small
history chunks (so that catching up takes several reads); consumers read a few responses
at a time or not at all, and watchers are canceled and history compacted under them.

After every step:

- each live watcher is in exactly one place (synced, or unsynced with a next history
  revision), each canceled one in none, and the hub's own invariants hold;
- what a watcher's consumer has received is a prefix of its events (the model's), in
  order, without gap or duplicate; a synced watcher has every later event up to the hub's
  revision in its buffer; an unsynced one has an empty buffer, and its next history
  revision is exactly where its consumer stopped: nothing skipped when it fell behind,
  nothing received twice when it replays.

Consumers use `poll()`, the non-blocking side of a watcher that the gRPC watch stream
uses, so a step never waits.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from kvstore import DeleteRangeRequest, Event, PutRequest, Watcher, WatchFilterType, prefix_range_end
from kvstore.watch.watcher import BatchKind
from tests.kvstore.model import Model
from tests.kvstore.store_machine import StoreMachine

KEYS = (b"a", b"a/1", b"a/2", b"b", b"b/1", b"c")
SPANS = (
    (b"a", b""),  # one key
    (b"a/1", b""),
    (b"a/", prefix_range_end(b"a/")),
    (b"b", prefix_range_end(b"b")),
    (b"\0", b"\0"),  # every key
    (b"a/2", b"c"),
)
FILTER_SETS: tuple[tuple[WatchFilterType, ...], ...] = ((), (WatchFilterType.NOPUT,), (WatchFilterType.NODELETE,))
MAX_WATCHES = 16  # opened in a run, canceled ones included
BUFFER = 3  # events a watcher buffers before it falls back to history
RESPONSE_BYTES = 120  # a batch's events are split into pieces of about this size
HISTORY_CHUNK = 2  # events per history read
MAX_BATCH = 6  # writes submitted together: one commit, several revisions

values = st.binary(min_size=0, max_size=60)
writes = st.lists(st.tuples(st.sampled_from(KEYS), st.booleans(), values), min_size=1, max_size=MAX_BATCH)


@dataclass
class _Watch:
    watcher: Watcher
    key: bytes
    range_end: bytes
    start: int  # the first revision it is owed
    filters: tuple[WatchFilterType, ...]
    received: list[Event] = field(default_factory=list)  # without prev_kv


def _plain(events: list[Event] | tuple[Event, ...]) -> list[Event]:
    return [Event(e.type, e.kv) for e in events]


class HubMembership(StoreMachine):
    def __init__(self) -> None:
        super().__init__("kvstore-hub-", watch_max_pending_events=BUFFER, watch_max_response_bytes=RESPONSE_BYTES)
        # The fan-out runs in a loop callback, where an exception is only logged: collect them.
        self.loop_errors: list[dict[str, object]] = []
        self.loop.set_exception_handler(lambda _, context: self.loop_errors.append(context))
        self.hub = self.store._hub
        self.hub.history.max_events = HISTORY_CHUNK
        self.model = Model()
        self.watches: list[_Watch] = []

    def live(self) -> list[_Watch]:
        return [w for w in self.watches if not w.watcher.canceled]

    def expected(self, w: _Watch) -> list[Event]:
        return self.model.watch_events(w.key, w.range_end, w.start, filters=w.filters)

    # ------------------------------------------------------------ rules

    @initialize(spans=st.lists(st.sampled_from(SPANS), min_size=1, max_size=6))
    def open_some(self, spans: list[tuple[bytes, bytes]]) -> None:
        """A few watchers from the start, so that most writes reach someone."""
        for span in spans:
            self.open(span, 0, prev_kv=False, filters=())

    @rule(ops=writes)
    def write(self, ops: list[tuple[bytes, bool, bytes]]) -> None:
        """Puts and deletes submitted together: one notify of several revisions."""
        self.submit(ops)

    @precondition(lambda self: self.live())
    @rule(ops=writes, data=st.data())
    def write_then_read(self, ops: list[tuple[bytes, bool, bytes]], data: st.DataObject) -> None:
        """A batch, then some consumers read a response or two while others lag."""
        self.submit(ops)
        for w in data.draw(st.lists(st.sampled_from(self.live()), max_size=4, unique_by=id)):
            self.read(w, data.draw(st.integers(1, 2)))

    def submit(self, ops: list[tuple[bytes, bool, bytes]]) -> None:
        store = self.store

        async def submit() -> None:
            await asyncio.gather(*(store.put(k, v) if put else store.delete_range(k) for k, put, v in ops))

        self.run(submit())
        for k, put, v in ops:
            if put:
                self.model.put(PutRequest(k, v))
            else:
                self.model.delete_range(DeleteRangeRequest(k))
        assert self.hub.revision == self.model.revision

    @precondition(lambda self: len(self.watches) < MAX_WATCHES)
    @rule(span=st.sampled_from(SPANS), prev_kv=st.booleans(), filters=st.sampled_from(FILTER_SETS), data=st.data())
    def watch(
        self, span: tuple[bytes, bytes], prev_kv: bool, filters: tuple[WatchFilterType, ...], data: st.DataObject
    ) -> None:
        """A watch from now (0), from a past revision still in history, or from the future."""
        m = self.model
        start = data.draw(st.one_of(st.just(0), st.integers(max(m.compact_revision, 1), m.revision + 3)))
        self.open(span, start, prev_kv=prev_kv, filters=filters)

    def open(
        self, span: tuple[bytes, bytes], start: int, *, prev_kv: bool, filters: tuple[WatchFilterType, ...]
    ) -> None:
        async def open_watch() -> Watcher:  # a store binds to the loop that first uses it
            return self.store.watch(*span, start_revision=start, prev_kv=prev_kv, filters=filters)

        watcher = self.run(open_watch())
        self.watches.append(_Watch(watcher, *span, start or self.model.revision + 1, filters))

    @precondition(lambda self: self.live())
    @rule(data=st.data(), responses=st.integers(1, 4), progress=st.booleans())
    def consume(self, data: st.DataObject, responses: int, progress: bool) -> None:
        """A consumer reads a few responses, as far as it can without waiting; sometimes it
        asks for a progress notification first."""
        w = data.draw(st.sampled_from(self.live()))
        if progress:
            w.watcher.request_progress()
        self.read(w, responses)

    @precondition(lambda self: self.live())
    @rule()
    def consume_all(self) -> None:
        """Every consumer reads everything it can: watchers behind catch up and rejoin."""
        for w in self.live():
            self.read(w, 1000)

    @precondition(lambda self: self.live())
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        w = data.draw(st.sampled_from(self.live()))
        w.watcher.cancel()
        assert w.watcher.canceled

    @precondition(lambda self: self.model.revision > max(self.model.compact_revision, 1))
    @rule(data=st.data())
    def compact(self, data: st.DataObject) -> None:
        """Compaction under watchers still catching up: those behind it end with the compact revision."""
        m = self.model
        revision = data.draw(st.integers(max(m.compact_revision, 1) + 1, m.revision))
        self.run(self.store.compact(revision))
        m.compact(revision)

    def read(self, w: _Watch, responses: int) -> None:
        """Poll up to `responses` batches from one watcher, checking each as it comes."""
        watcher = w.watcher
        for _ in range(responses):
            behind_from = self.hub.next_history_revision(watcher)
            batch = watcher.poll()
            if batch is None:
                assert not watcher.has_work() or watcher.canceled
                return
            if batch.kind is BatchKind.AGAIN:
                continue
            if batch.kind is BatchKind.EVENTS:
                events = [e for chunk in batch.chunks for e in chunk]
                assert events, "an empty events batch"
                assert batch.revision >= events[-1].kv.mod_revision
                w.received.extend(_plain(events))
            elif batch.kind is BatchKind.PROGRESS:
                # etcd: a progress notification's revision has been fully seen.
                assert batch.revision == self.hub.revision
                assert w.received == self.expected(w)
            elif batch.kind is BatchKind.COMPACTED:
                # etcd: canceled with the compact revision, only if what it still needed is gone.
                assert batch.revision == self.model.compact_revision
                assert behind_from is not None and behind_from < batch.revision
                assert watcher.canceled and watcher.cancel_reason == "compacted"
                return
            else:
                raise AssertionError(f"unexpected {batch.kind} from a live watcher")

    # ------------------------------------------------------------ invariants

    @invariant()
    def nothing_failed_in_the_loop(self) -> None:
        assert not self.loop_errors, self.loop_errors

    @invariant()
    def each_watcher_is_in_exactly_one_place(self) -> None:
        hub = self.hub
        hub.check_invariants()
        for w in self.watches:
            synced = hub.is_synced(w.watcher)
            behind = hub.next_history_revision(w.watcher) is not None
            if w.watcher.canceled:
                assert not synced and not behind, "a canceled watcher is still a member"
            else:
                assert synced != behind, "a live watcher is in both places or in neither"
                assert w.watcher.synced == synced
        assert hub.watcher_count == len(self.live())
        assert sorted(id(w) for w in hub.watchers()) == sorted(id(w.watcher) for w in self.live())

    @invariant()
    def every_event_is_received_buffered_or_still_in_history(self) -> None:
        for w in self.live():
            expected = self.expected(w)
            got = len(w.received)
            assert w.received == expected[:got], "events lost, repeated or out of order"
            next_revision = self.hub.next_history_revision(w.watcher)
            if next_revision is None:  # synced: everything up to the hub's revision is here or buffered
                assert got + w.watcher.pending_events == len(expected)
            else:  # unsynced: history resumes exactly where the consumer stopped
                assert w.watcher.pending_events == 0
                assert w.received == [e for e in expected if e.kv.mod_revision < next_revision]


def test_every_watcher_is_synced_or_catching_up_never_both_and_owed_exactly_its_events() -> None:
    """etcd's synced/unsynced watcher sets: through join, demotion of slow watchers, catch-up
    from history, cancellation and compaction, a live watcher is in exactly one of them and
    a canceled one in neither; no event is lost or repeated across the moves."""
    run_state_machine_as_test(
        HubMembership,
        settings=settings(
            max_examples=100,
            stateful_step_count=50,
            deadline=None,
            report_multiple_bugs=False,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
