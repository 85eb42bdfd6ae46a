"""The Watch service on the wire, driven with a raw gRPC stub like etcd's clients do."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from kvstore.pb import rpc_pb2, rpc_pb2_grpc
from tests.kvstore.server.conftest import Served

P = b"/w/"
END = b"/w0"


def create(key: bytes = P, range_end: bytes = END, **kw: Any) -> rpc_pb2.WatchRequest:
    return rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=key, range_end=range_end, **kw))


async def read(call: Any) -> rpc_pb2.WatchResponse:
    msg = await asyncio.wait_for(call.read(), 10)
    assert isinstance(msg, rpc_pb2.WatchResponse)
    return msg


async def test_created_then_events_with_ids_from_zero(served: Served) -> None:
    """etcd: the first watch on a stream gets ID 0; a created response precedes its events."""
    call = rpc_pb2_grpc.WatchStub(served.channel).Watch()
    await call.write(create())
    await call.write(create(key=P + b"x"))
    first, second = await read(call), await read(call)
    assert (first.created, first.watch_id, second.created, second.watch_id) == (True, 0, True, 1)
    assert first.header.revision == 1 and first.header.member_id == served.store.member_id
    await served.store.put(P + b"x", b"1")
    got = {(await read(call)).watch_id, (await read(call)).watch_id}
    assert got == {0, 1}
    call.cancel()


async def test_client_chosen_ids_and_duplicates(served: Served) -> None:
    """etcd 3.4: a non-zero watch_id is used as given; a duplicate is created-and-canceled with ID -1."""
    call = rpc_pb2_grpc.WatchStub(served.channel).Watch()
    await call.write(create(watch_id=7))
    assert (await read(call)).watch_id == 7
    await call.write(create(watch_id=7))
    dup = await read(call)
    assert (dup.watch_id, dup.created, dup.canceled) == (-1, True, True)
    assert dup.cancel_reason == "mvcc: duplicate watch ID provided on the WatchStream"
    call.cancel()


async def test_cancel_sends_canceled_and_stops_events(served: Served) -> None:
    """etcd: a cancel request is answered with canceled=true; unknown IDs are ignored."""
    call = rpc_pb2_grpc.WatchStub(served.channel).Watch()
    await call.write(create())
    await read(call)
    await call.write(rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=99)))
    await call.write(rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=0)))
    canceled = await read(call)
    assert (canceled.watch_id, canceled.canceled) == (0, True)
    await served.store.put(P + b"a", b"1")
    await call.write(create(key=b"/other"))
    nxt = await read(call)  # the next response is the new watch's creation, not an event
    assert nxt.created and nxt.watch_id == 1 and not nxt.events
    call.cancel()


async def test_progress_request_answers_with_id_minus_one_after_pending_events(served: Served) -> None:
    """etcd: a stream-wide progress request gets watch_id -1 and the current revision, after
    every event up to it."""
    call = rpc_pb2_grpc.WatchStub(served.channel).Watch()
    await call.write(create())
    await read(call)
    for i in range(5):
        await served.store.put(P + b"%d" % i, b"v")
    await call.write(rpc_pb2.WatchRequest(progress_request=rpc_pb2.WatchProgressRequest()))
    revisions: list[int] = []
    while True:
        msg = await read(call)
        if msg.watch_id == -1:
            break
        revisions += [e.kv.mod_revision for e in msg.events]
    assert revisions == [2, 3, 4, 5, 6]
    assert msg.header.revision == 6 and not msg.events
    call.cancel()


async def test_compacted_start_is_created_then_canceled(served: Served) -> None:
    """etcd: a watch from a compacted revision is created, then canceled with compact_revision."""
    for i in range(4):
        await served.store.put(P + b"k", b"%d" % i)
    await served.store.compact(4)
    call = rpc_pb2_grpc.WatchStub(served.channel).Watch()
    await call.write(create(start_revision=2))
    created, canceled = await read(call), await read(call)
    assert created.created and not created.canceled
    assert (canceled.watch_id, canceled.canceled, canceled.compact_revision) == (0, True, 4)
    call.cancel()


async def test_empty_range_and_bad_filter_are_refused(served: Served) -> None:
    """etcd: key >= range_end is "mvcc: watcher range is empty"; the stream stays usable."""
    call = rpc_pb2_grpc.WatchStub(served.channel).Watch()
    await call.write(create(key=b"b", range_end=b"a"))
    bad = await read(call)
    assert (bad.watch_id, bad.created, bad.canceled) == (-1, True, True)
    assert bad.cancel_reason == "mvcc: watcher range is empty"
    await call.write(create(filters=[7]))  # type: ignore[list-item]
    assert (await read(call)).canceled
    await call.write(create())
    ok = await read(call)
    assert ok.created and not ok.canceled
    call.cancel()


async def test_several_revisions_travel_in_one_response_under_load(served: Served) -> None:
    """Writes that commit together reach a watcher as one response holding all their revisions."""
    call = rpc_pb2_grpc.WatchStub(served.channel).Watch()
    await call.write(create())
    await read(call)
    await asyncio.gather(*(served.store.put(P + b"%d" % i, b"v") for i in range(200)))
    revisions: list[int] = []
    responses = 0
    while len(revisions) < 200:
        msg = await read(call)
        responses += 1
        revisions += [e.kv.mod_revision for e in msg.events]
    assert revisions == list(range(2, 202))
    assert responses < 50
    call.cancel()


async def test_a_busy_stream_waits_out_its_pace_and_sends_the_revisions_together(served: Served) -> None:
    """Under fan-out load (here: a pace of 1 s per stream) an idle stream still sends at once,
    and revisions written within the pace after a response travel together in the next one."""
    gate = served.server.watch.gate
    gate.pace_per_stream = gate.max_pace = 1.0
    call = rpc_pb2_grpc.WatchStub(served.channel).Watch()
    await call.write(create())
    await read(call)
    await served.store.put(P + b"first", b"v")
    first = await read(call)
    assert [e.kv.key for e in first.events] == [P + b"first"]
    for i in range(5):  # one at a time, each committed before the next
        await served.store.put(P + b"%d" % i, b"v")
    revisions: list[int] = []
    responses = 0
    while len(revisions) < 5:
        msg = await read(call)
        responses += 1
        revisions += [e.kv.mod_revision for e in msg.events]
    assert revisions == list(range(3, 8))
    assert responses <= 2  # without pacing: one response per put
    call.cancel()


@pytest.mark.parametrize("served", [{"watch_max_pending_events": 50}], indirect=True)
async def test_a_stalled_client_stalls_nobody_and_stays_bounded(served: Served) -> None:
    """etcd: a client that stops reading never blocks writers or other watchers, and the
    server keeps at most its buffer limit for it; it resumes from history when it reads again."""
    stub = rpc_pb2_grpc.WatchStub(served.channel)
    stalled = stub.Watch()
    await stalled.write(create())
    await read(stalled)
    healthy = stub.Watch()  # a second stream on the same connection
    await healthy.write(create())
    await read(healthy)
    value = b"x" * 8192
    total = 1500  # about 12 MB: far more than HTTP/2 flow control lets through unread
    hub = served.store._hub
    worst = 0
    got: list[int] = []
    for i in range(total):
        await served.store.put(P + b"%d" % (i % 50), value)
        for w in hub.watchers():
            worst = max(worst, w.pending_events)
        while len(got) < i + 1:
            msg = await read(healthy)
            got += [e.kv.mod_revision for e in msg.events]
    assert got == list(range(2, total + 2))  # the healthy stream saw every write, in time
    assert hub.demotions >= 1  # the stalled watcher fell back to history ...
    assert worst <= 51  # ... and never held more than its limit (one batch over at most)
    revisions: list[int] = []
    while len(revisions) < total:  # reading again, it gets everything, in order
        msg = await read(stalled)
        revisions += [e.kv.mod_revision for e in msg.events]
    assert revisions == list(range(2, total + 2))
    stalled.cancel()
    healthy.cancel()


class _Context:
    """The part of grpc.aio.ServicerContext a WatchStream uses: requests read back to back
    (as when they arrive in one packet), responses collected."""

    def __init__(self, requests: list[rpc_pb2.WatchRequest]) -> None:
        self.requests = [r.SerializeToString() for r in requests]
        self.sent: list[rpc_pb2.WatchResponse] = []
        self.changed = asyncio.Event()

    async def read(self) -> bytes:
        if self.requests:
            return self.requests.pop(0)
        await asyncio.Event().wait()  # the client sends nothing more
        raise AssertionError("unreachable")

    async def write(self, data: bytes) -> None:
        self.sent.append(rpc_pb2.WatchResponse.FromString(data))
        self.changed.set()


async def test_a_watch_id_reused_at_once_is_served(served: Served) -> None:
    """etcd: after a cancel the client may create a watch with the same ID; the new watch
    gets its history even when the old one was still waiting for the sender."""
    from kvstore.server.watch_stream import WatchStream

    for i in range(3):
        await served.store.put(P + b"k%d" % i, b"v")
    cancel = rpc_pb2.WatchRequest(cancel_request=rpc_pb2.WatchCancelRequest(watch_id=5))
    ctx = _Context([create(watch_id=5, start_revision=2), cancel, create(watch_id=5, start_revision=2)])
    ws = served.server.watch
    stream = WatchStream(served.store, ws.cache, ws.gate, ctx)  # type: ignore[arg-type]
    task = asyncio.create_task(stream.run())
    try:

        async def events_after_recreate() -> list[int]:
            while True:
                creates = [i for i, m in enumerate(ctx.sent) if m.created and m.watch_id == 5]
                if len(creates) == 2:
                    later = ctx.sent[creates[1] + 1 :]
                    revs = [e.kv.mod_revision for m in later if m.watch_id == 5 for e in m.events]
                    if revs:
                        return revs
                ctx.changed.clear()
                await ctx.changed.wait()

        assert await asyncio.wait_for(events_after_recreate(), 10) == [2, 3, 4]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
