"""The apply function is deterministic: the same commands in the same order give
byte-identical databases whatever the batching, and reopening rebuilds the same state."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import kvstore
from kvstore import (
    DeleteRangeRequest,
    PutRequest,
    RangeRequest,
    ResponseHeader,
    SortOrder,
    SortTarget,
    Store,
    TxnRequest,
    compare_create_revision,
    compare_lease,
    compare_mod_revision,
    compare_value,
    compare_version,
)

Command = Callable[[Store], Awaitable[Any]]
REPLICATED_DBS = ("history", "meta", "lease")
LOCAL_DB = "local"
LEASE_TTL = 3600  # long enough that no lease expires during a test
COMPACT_AT = 8


def put_command(key: bytes, value: bytes) -> Command:
    return lambda s: s.put(key, value)


def delete_command(key: bytes) -> Command:
    return lambda s: s.delete_range(key)


def txn_command(key: bytes, value: bytes) -> Command:
    """Overwrite `key` once it has two versions, else create `key/x` on a lease."""
    return lambda s: s.txn(
        compare=[compare_version(key, ">", 1)],
        success=[PutRequest(key, value), DeleteRangeRequest(key + b"/x")],
        failure=[PutRequest(key + b"/x", value, lease=1003)],
    )


def commands() -> list[Command]:
    """Varied writes, some of them rejected, in a fixed order.

    Each entry starts one write when called; none awaits anything before queueing it.
    """
    cmds: list[Command] = [
        lambda s: s.lease_grant(LEASE_TTL, id=1001),
        lambda s: s.lease_grant(LEASE_TTL, id=1002),
        lambda s: s.put(b"a", b"1"),
        lambda s: s.put(b"b", b"1", lease=1001),
        lambda s: s.put(b"c", b"1", lease=1002),
        lambda s: s.put(b"a", b"2", prev_kv=True),
        *(lambda s, i=i: s.put(f"d/{i}".encode(), f"v{i}".encode()) for i in range(6)),
        lambda s: s.put(b"b", lease=1002, ignore_value=True),  # moves b to lease 1002
        lambda s: s.put(b"c", b"2", ignore_lease=True),
        lambda s: s.delete_range(b"d/1", b"d/4", prev_kv=True),  # a range delete: d/1..d/3
        # A txn taking its failure branch inside its success branch.
        lambda s: s.txn(
            compare=[compare_version(b"a", "=", 2), compare_lease(b"c", "=", 1002)],
            success=[
                PutRequest(b"x", b"1"),
                DeleteRangeRequest(b"c"),
                TxnRequest(
                    compare=(compare_value(b"x", "=", b"1"),),  # sees the state before the txn: false
                    success=(PutRequest(b"never", b"1"),),
                    failure=(
                        PutRequest(b"y", b"1", lease=1001),
                        TxnRequest(
                            compare=(compare_create_revision(b"a", ">", 0),),
                            success=(PutRequest(b"z", b"1"), RangeRequest(b"a")),
                        ),
                    ),
                ),
                RangeRequest(b"\0", b"\0", count_only=True),
            ],
            failure=[RangeRequest(b"a")],
        ),
        # A failing compare: the failure branch writes.
        lambda s: s.txn(
            compare=[compare_value(b"a", "=", b"nope")],
            success=[PutRequest(b"never", b"2")],
            failure=[PutRequest(b"a", b"3"), TxnRequest(success=(PutRequest(b"e", b"1"),))],
        ),
        # A read-only txn: no new revision.
        lambda s: s.txn(compare=[compare_mod_revision(b"a", ">", 0)], success=[RangeRequest(b"a")]),
        # Rejected commands, which must leave no trace.
        lambda s: s.put(b"a", b"4", lease=999),  # no such lease
        lambda s: s.txn(success=[PutRequest(b"q", b"1"), PutRequest(b"r", b"1", lease=999)]),
        lambda s: s.put(b"missing", ignore_value=True),  # key not found
        lambda s: s.lease_grant(LEASE_TTL, id=1002),  # exists already
        lambda s: s.lease_revoke(4242),  # no such lease
        lambda s: s.compact(10_000),  # a future revision
        # Deleting nothing: no new revision either.
        lambda s: s.delete_range(b"nothing/", b"nothing0"),
        *(lambda s, i=i: s.put(b"f", f"{i}".encode()) for i in range(5)),
        lambda s: s.compact(COMPACT_AT),
        lambda s: s.compact(COMPACT_AT - 2),  # compacted already
        lambda s: s.put(b"a", b"5"),
        lambda s: s.lease_revoke(1001),  # deletes y
        lambda s: s.lease_grant(LEASE_TTL, id=1003),
        lambda s: s.put(b"g", b"1", lease=1003),
        lambda s: s.put(b"g", b"2", lease=1002),
        lambda s: s.delete_range(b"d/", b"d0"),
    ]
    rng = random.Random(42)
    for _ in range(150):
        key = f"m/{rng.randrange(20):02d}".encode()
        value = rng.randbytes(rng.randrange(0, 300))
        if rng.random() < 0.15:
            cmds.append(delete_command(key))
        elif rng.random() < 0.1:
            cmds.append(txn_command(key, value))
        else:
            cmds.append(put_command(key, value))
    cmds.append(lambda s: s.compact(60))
    cmds.append(lambda s: s.lease_revoke(1003))
    return cmds


def normalize(x: Any) -> Any:
    """A response as plain data, with only the revision of each header (the member and
    cluster IDs belong to each node); an error as its type and message."""
    if isinstance(x, BaseException):
        return ("error", type(x).__name__, str(x))
    if isinstance(x, ResponseHeader):
        return x.revision
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return (type(x).__name__, *(normalize(getattr(x, f.name)) for f in dataclasses.fields(x)))
    if isinstance(x, list | tuple):
        return tuple(normalize(i) for i in x)
    return x


async def apply_one_at_a_time(store: Store, cmds: list[Command]) -> list[Any]:
    results: list[Any] = []
    for cmd in cmds:
        try:
            results.append(await cmd(store))
        except kvstore.KVError as exc:
            results.append(exc)
    return results


async def apply_all_at_once(store: Store, cmds: list[Command]) -> list[Any]:
    # gather starts the coroutines in list order and each queues its command before
    # its first suspension, so the committer receives them in list order.
    return list(await asyncio.gather(*(cmd(store) for cmd in cmds), return_exceptions=True))


async def apply_in_chunks(store: Store, cmds: list[Command], seed: int) -> list[Any]:
    """Queue the commands in consecutive groups of random sizes: batches of mixed sizes."""
    rng = random.Random(seed)
    results: list[Any] = []
    i = 0
    while i < len(cmds):
        n = rng.randint(1, 24)
        results += await apply_all_at_once(store, cmds[i : i + n])
        i += n
    return results


def dump(store: Store, name: str) -> list[tuple[bytes, bytes]]:
    backend = store._backend
    db = {
        "history": backend.history_db,
        "meta": backend.meta_db,
        "lease": backend.lease_db,
        "local": backend.local_db,
    }[name]
    with backend.read() as txn:
        return [(bytes(k), bytes(v)) for k, v in txn.cursor(db=db)]


def named_dbs(store: Store) -> set[str]:
    with store._backend.read() as txn:
        return {bytes(k).decode() for k, _ in txn.cursor()}


async def test_same_commands_give_byte_identical_databases_whatever_the_batching(tmp_path: Path) -> None:
    """The apply function is deterministic: the same commands in the same order, applied
    one per batch to store A, all queued at once (a few large batches) to store B, and
    in groups of random sizes to store C, give the same responses and byte-identical
    history, meta and lease databases; only the local database (the node's own
    identity) differs."""
    cmds = commands()
    a = kvstore.open(tmp_path / "a")
    b = kvstore.open(tmp_path / "b")
    c = kvstore.open(tmp_path / "c")
    try:
        results_a = await apply_one_at_a_time(a, cmds)
        results_b = await apply_all_at_once(b, cmds)
        results_c = await apply_in_chunks(c, cmds, seed=5)

        # Same responses, revisions included: B's and C's queue order was the list order.
        for i, (ra, rb, rc) in enumerate(zip(results_a, results_b, results_c, strict=True)):
            assert normalize(ra) == normalize(rb) == normalize(rc), f"command {i}"
        assert [type(r).__name__ for r in results_a if isinstance(r, kvstore.KVError)] == [
            "LeaseNotFoundError",
            "LeaseNotFoundError",
            "KeyNotFoundError",
            "LeaseExistsError",
            "LeaseNotFoundError",
            "FutureRevisionError",
            "CompactedError",
        ]
        assert a._committer is not None and b._committer is not None and c._committer is not None
        assert a._committer.batches == len(cmds)
        assert b._committer.batches < len(cmds) // 10, "the concurrent writes were not grouped"
        assert b._committer.batches < c._committer.batches < a._committer.batches

        assert (a.revision, a.compact_revision) == (b.revision, b.compact_revision) == (c.revision, 60)
        assert named_dbs(a) == named_dbs(b) == named_dbs(c) == {*REPLICATED_DBS, LOCAL_DB}
        for name in REPLICATED_DBS:
            rows_a, rows_b, rows_c = dump(a, name), dump(b, name), dump(c, name)
            assert rows_a, name
            assert rows_a == rows_b, f"{name} differs between A and B"
            assert rows_a == rows_c, f"{name} differs between A and C"
        assert {k for k, _ in dump(a, "lease")} == {(1002).to_bytes(8, "big")}

        # The local database holds only the node's identity, chosen at random per node:
        # it differs, and nothing replicated lives there.
        for store in (a, b, c):
            assert {k for k, _ in dump(store, LOCAL_DB)} == {b"member_id", b"cluster_id"}
        assert dump(a, LOCAL_DB) != dump(b, LOCAL_DB)
    finally:
        for store in (a, b, c):
            await store.close()


async def answers(store: Store) -> dict[str, Any]:
    """What the store answers about its state: ranges at every readable revision (and
    below the compact revision), several range options, and the leases."""
    out: dict[str, Any] = {"revision": store.revision, "compact_revision": store.compact_revision}
    for rev in (*range(store.compact_revision, store.revision + 1), 0):
        out[f"range@{rev}"] = normalize(await store.range(b"\0", b"\0", revision=rev))
        out[f"m@{rev}"] = normalize(
            await store.range(b"m/", b"m0", revision=rev, sort_order=SortOrder.DESCEND, sort_target=SortTarget.MOD)
        )
    for rev in (1, store.compact_revision - 1, store.revision + 1):
        try:
            await store.range(b"a", revision=rev)
        except kvstore.KVError as exc:
            out[f"error@{rev}"] = normalize(exc)
    out["limited"] = normalize(await store.range(b"\0", b"\0", limit=3, keys_only=True))
    out["count"] = normalize(await store.range(b"\0", b"\0", count_only=True, min_mod_revision=40))
    out["leases"] = normalize(await store.leases())
    for lease_id in (1001, 1002, 1003):
        ttl = await store.lease_time_to_live(lease_id, keys=True)
        out[f"lease {lease_id}"] = (ttl.granted_ttl, ttl.keys, ttl.ttl == -1)
    out["watch"] = await watch_history(store)
    return out


async def watch_history(store: Store) -> Any:
    """Every event (with its previous value) a watch from the compact revision replays."""
    events: list[Any] = []
    watcher = store.watch(b"\0", b"\0", start_revision=store.compact_revision, prev_kv=True)
    watcher.request_progress()  # answered once everything so far has been delivered
    async with asyncio.timeout(10):
        async for resp in watcher:
            events += resp.events
            if resp.is_progress_notify:
                break
    watcher.cancel()
    assert events and events[-1].kv.mod_revision == store.revision
    return normalize(events)


async def test_reopening_rebuilds_the_same_state(tmp_path: Path) -> None:
    """Reopening rebuilds the in-memory state (index, revisions, leases) from disk: the
    reopened store gives the same answers as before closing, at every revision still
    readable and below it, and the next write gets the next revision."""
    path = tmp_path / "store"
    store = kvstore.open(path)
    try:
        results = await apply_all_at_once(store, commands())
        assert any(isinstance(r, kvstore.KVError) for r in results)
        before = await answers(store)
    finally:
        await store.close()

    reopened = kvstore.open(path)
    try:
        after = await answers(reopened)
        assert after.keys() == before.keys()
        for name in before:
            assert after[name] == before[name], name
        assert before["leases"][2] == ((1002,),)  # the lease left, and its keys, survived
        assert before["lease 1002"][1] == [b"b", b"g"]
        p = await reopened.put(b"next", b"1")
        assert p.header.revision == before["revision"] + 1
    finally:
        await reopened.close()
