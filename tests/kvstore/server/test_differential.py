"""The same operations against a real etcd and against `kvs serve`, compared field by field.

Each test starts both servers empty (revision 1) and runs one scenario, through
`kvstore.connect()`, against each of them at the same time. A scenario records every
result, normalized: response records become plain dicts, headers keep only the revision
(cluster_id, member_id and raft_term differ by nature), errors become their class and
etcd's message text. etcd is the judge: the two lists must be equal, and a failure lists
every step where they differ.

Where this store differs from etcd on purpose (docs/semantics.md), the scenarios steer
clear of the difference and say so.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import pprint
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import kvstore
from kvstore import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    KVError,
    PutRequest,
    RangeRequest,
    ResponseHeader,
    SortOrder,
    SortTarget,
    TxnRequest,
    WatchFilterType,
    compare_create_revision,
    compare_lease,
    compare_mod_revision,
    compare_value,
    compare_version,
    prefix_range_end,
)
from kvstore.client import Client
from tests.servers import EtcdServer, KvsServer, running

pytestmark = pytest.mark.timeout(90)

CALL_TIMEOUT = 20.0  # seconds per client call
WATCH_TIMEOUT = 10.0  # seconds a watch gets to deliver what a scenario waits for
TIMED_OUT = "timed out"


# ---------------------------------------------------------------- servers


@dataclasses.dataclass
class Backends:
    kvs: Client
    etcd: Client


@pytest.fixture
async def backends(tmp_path: Path) -> AsyncIterator[Backends]:
    kvs_server, etcd_server = KvsServer(tmp_path / "kvs"), EtcdServer(tmp_path / "etcd")
    with running(kvs_server, etcd_server):  # both start at once
        kvs_client = kvstore.connect(kvs_server.endpoint, timeout=CALL_TIMEOUT)
        etcd_client = kvstore.connect(etcd_server.endpoint, timeout=CALL_TIMEOUT)
        try:
            yield Backends(kvs_client, etcd_client)
        finally:
            await kvs_client.close()
            await etcd_client.close()


# ---------------------------------------------------------------- recording and comparing


def norm(x: Any) -> Any:
    """A plain, comparable form of a result."""
    if isinstance(x, ResponseHeader):
        return {"revision": x.revision}  # cluster_id, member_id and raft_term are per server
    if isinstance(x, enum.Enum):
        return x.name
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # KeyValue, Event, LeaseStatus
        return {f: norm(getattr(x, f)) for f in x._fields}
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {"_": type(x).__name__} | {f.name: norm(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, list | tuple):
        return [norm(v) for v in x]
    return x


def error(exc: KVError) -> tuple[str, str, str]:
    """An error as etcd shows it: class and message text (details do not cross etcd's wire)."""
    return ("error", type(exc).__name__, str(exc))


class Recorder:
    """Runs a scenario's calls on one backend and keeps (label, normalized result) pairs."""

    def __init__(self, kv: Client) -> None:
        self.kv = kv
        self.results: list[tuple[str, Any]] = []

    async def __call__(self, label: str, call: Awaitable[Any], post: Callable[[Any], Any] | None = None) -> Any:
        """Await `call` and record its result (through `post` if given) or its KVError."""
        try:
            result = await call
        except KVError as exc:
            self.results.append((label, error(exc)))
            return None
        self.results.append((label, norm(post(result) if post else result)))
        return result

    def note(self, label: str, value: Any) -> None:
        self.results.append((label, norm(value)))


Scenario = Callable[[Recorder], Awaitable[None]]


async def run_both(backends: Backends, scenario: Scenario) -> None:
    """Run `scenario` on both servers at once; fail listing every step where they differ."""
    kvs, etcd = Recorder(backends.kvs), Recorder(backends.etcd)
    await asyncio.gather(scenario(kvs), scenario(etcd))
    assert_same(kvs.results, etcd.results)
    stuck = [label for label, result in etcd.results if isinstance(result, list) and result[:1] == [TIMED_OUT]]
    assert not stuck, f"the scenario waits for watch events etcd never sent: {stuck}"


def _show(value: Any) -> str:
    return textwrap.indent(pprint.pformat(value, width=110), " " * 13).lstrip()


def assert_same(kvs: list[tuple[str, Any]], etcd: list[tuple[str, Any]]) -> None:
    diffs = []
    for i, (a, b) in enumerate(zip(kvs, etcd, strict=False)):
        if a != b:
            diffs.append(f"step {i} {b[0]!r}:\n  kvs serve: {_show(a[1])}\n  etcd:      {_show(b[1])}")
    if len(kvs) != len(etcd):
        diffs.append(f"kvs serve recorded {len(kvs)} steps, etcd {len(etcd)}")
    if diffs:
        pytest.fail(f"{len(diffs)} difference(s) from etcd:\n" + "\n".join(diffs), pytrace=False)
    assert kvs, "the scenario recorded nothing"


async def collect_events(w: Any, until_revision: int) -> Any:
    """A watch's events up to (and including) one at `until_revision`, flattened; or how it ended."""
    events: list[Any] = []
    try:
        async with asyncio.timeout(WATCH_TIMEOUT):
            async for resp in w:
                events.extend(resp.events)
                if events and events[-1].kv.mod_revision >= until_revision:
                    return events
            return ["ended", events]
    except kvstore.CompactedError as exc:
        return ["compacted", exc.compact_revision, events]
    except TimeoutError:
        return [TIMED_OUT, events]
    finally:
        w.cancel()


P = b"/d/"  # the scenarios' key space
END = prefix_range_end(P)


def everything(kv: Client, **options: Any) -> Awaitable[Any]:
    return kv.range(P, END, **options)


# ---------------------------------------------------------------- puts and ranges


async def puts_and_ranges(r: Recorder) -> None:
    kv = r.kv
    await r("range empty store", kv.range(b"\0", b"\0"))
    await r("put a", kv.put(P + b"a", b"1"))
    await r("put a again, prev_kv", kv.put(P + b"a", b"2", prev_kv=True))
    await r("put b, prev_kv of a new key", kv.put(P + b"b", b"x" * 100, prev_kv=True))
    await r("put c empty value", kv.put(P + b"c", b""))
    await r("put nested", kv.put(P + b"c/d", b"deep"))
    await r("put outside", kv.put(b"/e", b"out"))
    await r("put binary", kv.put(P + b"\x00\xff", b"\x00\x01\xfe"))
    await r("lease", kv.lease_grant(100, 0x5EED))
    await r("put with lease", kv.put(P + b"l", b"leased", lease=0x5EED))
    await r("put ignore_lease keeps the lease", kv.put(P + b"l", b"v2", ignore_lease=True, prev_kv=True))
    await r("put ignore_value keeps the value", kv.put(P + b"l", ignore_value=True, prev_kv=True))
    await r("put ignore_value, new lease 0", kv.put(P + b"l", ignore_value=True, lease=0))
    await r("get l", kv.range(P + b"l"))
    await r("single key", kv.range(P + b"a"))
    await r("missing key", kv.range(P + b"zz"))
    await r("prefix", everything(kv))
    await r("prefix of a", kv.range(P + b"a", prefix_range_end(P + b"a")))
    await r("from key", kv.range(P + b"b", b"\0"))
    await r("everything", kv.range(b"\0", b"\0"))
    await r("range [b, c/d)", kv.range(P + b"b", P + b"c/d"))
    await r("empty interval", kv.range(P + b"b", P + b"b"))
    await r("reversed interval", kv.range(P + b"c", P + b"a"))
    for limit in (-1, 0, 1, 2, 5, 6, 100):
        await r(f"limit {limit}", everything(kv, limit=limit))
    await r("keys_only", everything(kv, keys_only=True))
    await r("keys_only limit", everything(kv, keys_only=True, limit=2))
    await r("count_only", everything(kv, count_only=True))
    await r("count_only limit", everything(kv, count_only=True, limit=2))
    await r("count_only keys_only", everything(kv, count_only=True, keys_only=True))
    await r("serializable", everything(kv, serializable=True))
    await r("revision -1", everything(kv, revision=-1))


async def sorts_and_filters(r: Recorder) -> None:
    kv = r.kv
    # Distinct values per target where it matters; some ties on purpose (versions, creates).
    await r("put k3", kv.put(P + b"k3", b"c"))
    await r("put k1", kv.put(P + b"k1", b"e"))
    await r("put k2", kv.put(P + b"k2", b"a"))
    await r("put k1 v2", kv.put(P + b"k1", b"b"))
    await r("put k4 in txn with k5", kv.txn(success=[PutRequest(P + b"k4", b"d"), PutRequest(P + b"k5", b"d")]))
    await r("put k3 v2", kv.put(P + b"k3", b"f"))
    await r("put k3 v3", kv.put(P + b"k3", b"g"))
    for order in SortOrder:
        for target in SortTarget:
            for limit in (0, 2):
                await r(
                    f"sort {order.name} by {target.name} limit {limit}",
                    everything(kv, sort_order=order, sort_target=target, limit=limit),
                )
    for field in ("min_mod_revision", "max_mod_revision", "min_create_revision", "max_create_revision"):
        for bound in (3, 5, 6, 100):
            await r(f"{field}={bound}", everything(kv, **{field: bound}))
            await r(f"{field}={bound} limit 1", everything(kv, **{field: bound}, limit=1))
            await r(f"{field}={bound} count_only", everything(kv, **{field: bound}, count_only=True))
    await r(
        "mod window, descending by create, limit 2",
        everything(
            kv,
            min_mod_revision=3,
            max_mod_revision=7,
            sort_order=SortOrder.DESCEND,
            sort_target=SortTarget.CREATE,
            limit=2,
        ),
    )
    await r("filters at an old revision", everything(kv, revision=5, min_create_revision=3, keys_only=True))


async def ranges_at_revisions(r: Recorder) -> None:
    kv = r.kv
    await r("put a", kv.put(P + b"a", b"1"))
    await r("put b", kv.put(P + b"b", b"1"))
    await r("put a v2", kv.put(P + b"a", b"2"))
    await r("del a", kv.delete_range(P + b"a"))
    await r("put a again", kv.put(P + b"a", b"3"))
    await r("del prefix", kv.delete_range(P, END))
    await r("put c", kv.put(P + b"c", b"1"))
    for rev in range(0, 10):
        await r(f"prefix at {rev}", everything(kv, revision=rev))
        await r(f"a at {rev}", kv.range(P + b"a", revision=rev))
        await r(f"count at {rev}", everything(kv, revision=rev, count_only=True))
        await r(f"limit 1 at {rev}", everything(kv, revision=rev, limit=1))


# ---------------------------------------------------------------- deletes


async def deletes(r: Recorder) -> None:
    kv = r.kv
    for key in (b"a", b"b", b"b/1", b"b/2", b"c", b"d"):
        await r(f"put {key!r}", kv.put(P + key, key * 2))
    await r("put b/1 again", kv.put(P + b"b/1", b"again"))
    await r("delete missing (no revision)", kv.delete_range(P + b"zz"))
    await r("delete missing, prev_kv", kv.delete_range(P + b"zz", prev_kv=True))
    await r("delete a", kv.delete_range(P + b"a"))
    await r("delete a twice", kv.delete_range(P + b"a"))
    await r("delete prefix b/ prev_kv", kv.delete_range(P + b"b/", prefix_range_end(P + b"b/"), prev_kv=True))
    await r("delete [b, d) prev_kv", kv.delete_range(P + b"b", P + b"d", prev_kv=True))
    await r("after", everything(kv))
    await r("delete from d on", kv.delete_range(P + b"d", b"\0"))
    await r("delete empty interval", kv.delete_range(P + b"x", P + b"x"))
    await r("all gone", kv.range(b"\0", b"\0"))
    await r("put a again: version 1", kv.put(P + b"a", b"new", prev_kv=True))
    await r("get a", kv.range(P + b"a"))


# ---------------------------------------------------------------- txns


_OPS = {CompareResult.EQUAL: "=", CompareResult.NOT_EQUAL: "!=", CompareResult.GREATER: ">", CompareResult.LESS: "<"}
_COMPARES: dict[CompareTarget, Callable[..., Compare]] = {
    CompareTarget.VALUE: compare_value,
    CompareTarget.VERSION: compare_version,
    CompareTarget.CREATE: compare_create_revision,
    CompareTarget.MOD: compare_mod_revision,
    CompareTarget.LEASE: compare_lease,
}


def cmp(target: CompareTarget, result: CompareResult, key: bytes, value: Any, range_end: bytes = b"") -> Compare:
    return _COMPARES[target](key, _OPS[result], value, range_end)


async def txn_compares(r: Recorder) -> None:
    kv = r.kv
    await r("lease", kv.lease_grant(100, 0xC0FFEE))
    await r("put x", kv.put(P + b"x", b"m"))  # rev 2 (the lease grant makes no revision)
    await r("put x v2", kv.put(P + b"x", b"m", lease=0xC0FFEE))  # rev 3, version 2
    await r("put y", kv.put(P + b"y", b"z"))  # rev 4
    # (target, values below / at / above what x has); the range [x, z) holds x and y.
    probes: dict[CompareTarget, list[Any]] = {
        CompareTarget.VALUE: [b"a", b"m", b"zz", b""],
        CompareTarget.VERSION: [0, 1, 2, 3],
        CompareTarget.CREATE: [0, 2, 3, 4, 5],
        CompareTarget.MOD: [0, 2, 3, 4, 5],
        CompareTarget.LEASE: [0, 0xC0FFEE, 0xC0FFEF],
    }
    keys = {"x": (P + b"x", b""), "missing": (P + b"nope", b""), "range [x,z)": (P + b"x", P + b"z")}
    keys["range from x"] = (P + b"x", b"\0")
    keys["empty range"] = (P + b"q", P + b"r")
    for target, values in probes.items():
        for result in CompareResult:
            for name, (key, end) in keys.items():
                for value in values:
                    c = cmp(target, result, key, value, end)
                    await r(
                        f"{target.name} {result.name} {value!r} on {name}",
                        kv.txn([c], [RangeRequest(P + b"x", keys_only=True)], []),
                        post=lambda t: t.succeeded,
                    )
    both = [compare_value(P + b"x", "=", b"m"), compare_version(P + b"y", "=", 1)]
    await r("two compares, both hold", kv.txn(both, [], []), post=lambda t: t.succeeded)
    one = [compare_value(P + b"x", "=", b"m"), compare_version(P + b"y", "=", 2)]
    await r("two compares, one fails", kv.txn(one, [], []), post=lambda t: t.succeeded)
    await r("no compares", kv.txn([], [RangeRequest(P + b"y")], [RangeRequest(P + b"x")]))


async def txn_branches(r: Recorder) -> None:
    kv = r.kv
    await r("put a", kv.put(P + b"a", b"1"))
    await r("put b", kv.put(P + b"b", b"1"))
    await r(
        "success branch: put, read own write, delete, read again",
        kv.txn(
            [compare_value(P + b"a", "=", b"1")],
            [
                PutRequest(P + b"a", b"2", prev_kv=True),
                RangeRequest(P + b"a"),
                DeleteRangeRequest(P + b"b", prev_kv=True),
                RangeRequest(P, END),
                PutRequest(P + b"c", b"new"),
                RangeRequest(P, END, count_only=True),
            ],
            [PutRequest(P + b"never", b"x")],
        ),
    )
    await r(
        "failure branch",
        kv.txn(
            [compare_value(P + b"a", "=", b"1")],
            [PutRequest(P + b"never", b"x")],
            [PutRequest(P + b"f", b"1"), RangeRequest(P, END, keys_only=True), DeleteRangeRequest(P + b"c")],
        ),
    )
    await r("read-only success: no revision", kv.txn([], [RangeRequest(P + b"a")], []))
    await r("empty txn", kv.txn([], [], []))
    await r("failure with empty branch", kv.txn([compare_version(P + b"zz", ">", 0)], [RangeRequest(P)], []))
    await r(
        "range at an old revision inside a txn",
        kv.txn([], [PutRequest(P + b"a", b"3"), RangeRequest(P + b"a", revision=2)], []),
    )
    nested = TxnRequest(
        # Evaluated against the state before the outer txn: a is "3" there, not "4".
        (compare_value(P + b"a", "=", b"4"),),
        (PutRequest(P + b"n", b"saw-4"),),
        (PutRequest(P + b"n", b"saw-old"), RangeRequest(P + b"a")),
    )
    await r("nested txn compares before the outer writes", kv.txn([], [PutRequest(P + b"a", b"4"), nested], []))
    deeper = TxnRequest(
        (compare_version(P + b"n", ">", 0),),
        (TxnRequest((), (PutRequest(P + b"deep", b"1"), RangeRequest(P + b"deep")), ()), DeleteRangeRequest(P + b"f")),
        (),
    )
    await r("two levels of nesting", kv.txn([compare_value(P + b"a", "=", b"4")], [deeper], [PutRequest(P + b"x")]))
    await r(
        "the same key in both branches of a nested txn",
        kv.txn(
            [],
            [TxnRequest((compare_version(P + b"a", ">", 0),), (PutRequest(P + b"s", b"t"),), (PutRequest(P + b"s"),))],
            [],
        ),
    )
    await r("lease compare, lease in txn put", kv.lease_grant(60, 77))
    await r(
        "put with lease in txn",
        kv.txn([compare_lease(P + b"a", "=", 0)], [PutRequest(P + b"a", b"5", lease=77, prev_kv=True)], []),
    )
    # Only the chosen path is checked against the store (etcd's checkRequests on txnPath).
    not_taken = [compare_version(P + b"a", "=", 0)]
    await r("future read in the branch not taken", kv.txn(not_taken, [RangeRequest(P + b"a", revision=99)], []))
    await r("unknown lease in the branch not taken", kv.txn(not_taken, [PutRequest(P + b"x", lease=999)], []))
    await r(
        "ignore_value of a missing key, not taken", kv.txn(not_taken, [PutRequest(P + b"zz", ignore_value=True)], [])
    )
    await r("ignore_value of a missing key, taken", kv.txn([], [PutRequest(P + b"zz", ignore_value=True)], []))
    await r(
        "future read after a write in the txn",
        kv.txn([], [PutRequest(P + b"a", b"6"), RangeRequest(P + b"a", revision=99)], []),
    )
    # Duplicate-key rules across nested txns (etcd's checkIntervals).
    k = P + b"k"
    then_del_else_put = TxnRequest((), (DeleteRangeRequest(k),), (PutRequest(k),))
    await r("delete in then, put in else of one nested txn", kv.txn([], [then_del_else_put], []))
    sibling = [TxnRequest((), (PutRequest(k, b"1"),), ()), TxnRequest((), (DeleteRangeRequest(k),), ())]
    await r("nested put, then a sibling nested delete", kv.txn([], sibling, []))
    await r("after", kv.range(b"\0", b"\0"))


# ---------------------------------------------------------------- compaction


async def compaction(r: Recorder) -> None:
    kv = r.kv
    await r("compact 0 on a new store", kv.compact(0))
    await r("compact 1 on a new store", kv.compact(1))
    await r("compact 1 again", kv.compact(1))
    await r("put a", kv.put(P + b"a", b"1"))  # 2
    await r("put a v2", kv.put(P + b"a", b"2"))  # 3
    await r("put b", kv.put(P + b"b", b"1"))  # 4
    await r("del b", kv.delete_range(P + b"b"))  # 5
    await r("put c", kv.put(P + b"c", b"1"))  # 6
    await r("put a v3", kv.put(P + b"a", b"3"))  # 7
    await r("compact future", kv.compact(8))
    await r("compact 4", kv.compact(4))
    for rev in range(0, 9):
        await r(f"read at {rev}", everything(kv, revision=rev))
    await r("compact 4 again", kv.compact(4))
    await r("compact 3", kv.compact(3))
    # docs/semantics.md: etcd drops a tombstone sitting exactly at the compact revision
    # (watches from there miss it); this store keeps it. Compacting at 6 (a put) rather
    # than 5 (b's tombstone) keeps that documented difference out of this comparison.
    await r("compact 6", kv.compact(6))
    for rev in range(4, 9):
        await r(f"read at {rev} after compact 6", everything(kv, revision=rev))
    await r("count at 6", everything(kv, revision=6, count_only=True))
    await r("txn reading below the compaction", kv.txn([], [RangeRequest(P, END, revision=5)], []))
    await r("txn reading at the compaction", kv.txn([], [RangeRequest(P, END, revision=6)], []))
    r.note("watch below the compaction", await collect_events(kv.watch(P, END, start_revision=5), 7))
    r.note("watch at the compaction", await collect_events(kv.watch(P, END, start_revision=6, prev_kv=True), 7))
    await r("compact at current", kv.compact(7))
    await r("read at current after compacting there", everything(kv, revision=7))


# ---------------------------------------------------------------- errors


async def errors(r: Recorder) -> None:
    kv = r.kv
    await r("put a", kv.put(P + b"a", b"1"))
    await r("read a future revision", kv.range(P + b"a", revision=3))
    await r("read far in the future", everything(kv, revision=1000))
    await r("txn reading a future revision", kv.txn([], [RangeRequest(P + b"a", revision=50)], []))
    await r("put a v2", kv.put(P + b"a", b"2"))
    await r("compact 3", kv.compact(3))
    await r("read a compacted revision", kv.range(P + b"a", revision=2))
    await r("put with an empty key", kv.put(b"", b"v"))
    await r("range with an empty key", kv.range(b""))
    await r("delete with an empty key", kv.delete_range(b""))
    await r("txn put with an empty key", kv.txn([], [PutRequest(b"", b"v")], []))
    await r("txn range with an empty key", kv.txn([], [RangeRequest(b"")], []))
    await r("txn delete with an empty key", kv.txn([], [DeleteRangeRequest(b"")], []))
    many = [PutRequest(P + b"many/%d" % i) for i in range(129)]
    await r("129 puts in a txn", kv.txn([], many, []))
    await r("128 puts in a txn", kv.txn([], many[:128], []), post=lambda t: (t.header, t.succeeded, t.responses[-1]))
    await r("129 ops in the failure branch", kv.txn([], [], many))
    await r("129 compares", kv.txn([compare_version(P + b"a", ">", 0)] * 129, [], []))
    dup = PutRequest(P + b"dup", b"1")
    big = b"x" * (1024 * 1024 + 600 * 1024)  # over etcd's 1.5 MiB request limit, under its gRPC limit
    await r("duplicate put", kv.txn([], [dup, dup], []))
    await r("duplicate in the branch not taken", kv.txn([], [], [dup, dup]))
    await r("put and delete of one key", kv.txn([], [dup, DeleteRangeRequest(P + b"dup")], []))
    await r("delete of a range holding a put key", kv.txn([], [DeleteRangeRequest(P, END), dup], []))
    await r("put outer and in a nested txn", kv.txn([], [dup, TxnRequest((), (dup,), ())], []))
    await r("put in two nested txns", kv.txn([], [TxnRequest((), (dup,), ()), TxnRequest((), (dup,), ())], []))
    await r("nested delete, outer put", kv.txn([], [TxnRequest((), (DeleteRangeRequest(P + b"dup"),), ()), dup], []))
    await r("the same key in then and else is fine", kv.txn([], [TxnRequest((), (dup,), (dup,))], []))
    await r("put with an unknown lease", kv.put(P + b"l", b"v", lease=123456))
    await r("txn put with an unknown lease", kv.txn([], [PutRequest(P + b"l", b"v", lease=123456)], []))
    await r("revoke an unknown lease", kv.lease_revoke(123456))
    await r("grant a too large TTL", kv.lease_grant(9_000_000_001, 43))
    await r("grant the largest TTL", kv.lease_grant(9_000_000_000, 44))
    await r("ignore_value with a value", kv.put(P + b"a", b"v", ignore_value=True))
    await r("ignore_lease with a lease", kv.put(P + b"a", b"v", lease=42, ignore_lease=True))
    await r("ignore_value on a missing key", kv.put(P + b"missing", ignore_value=True))
    await r("ignore_lease on a missing key", kv.put(P + b"missing", b"v", ignore_lease=True))
    await r("put over the request size limit", kv.put(P + b"big", big))
    await r(
        "txn over the request size limit",
        kv.txn([], [PutRequest(P + b"big1", big[:900_000]), PutRequest(P + b"big2", big[:900_000])], []),
    )
    # Checked in etcd's order: request shape (op counts, empty keys, duplicates) first, then
    # size, then leases and ignore_* against the store.
    await r("empty key and unknown lease", kv.put(b"", b"v", lease=55))
    await r("empty key and too large", kv.put(b"", big))
    await r("unknown lease and too large", kv.put(P + b"a", big, lease=55))
    await r("ignore_value with a value and unknown lease", kv.put(P + b"a", b"v", lease=55, ignore_value=True))
    await r("ignore_value on a missing key, unknown lease", kv.put(P + b"missing", lease=55, ignore_value=True))
    await r("129 duplicates", kv.txn([], [dup] * 129, []))
    await r("duplicates, then an empty key", kv.txn([], [dup, dup, PutRequest(b"")], []))
    await r("duplicates with an unknown lease", kv.txn([], [dup._replace(lease=55), dup._replace(lease=55)], []))
    await r("duplicate and too large", kv.txn([], [dup._replace(value=big), dup], []))
    await r("nothing was written by the errors", kv.range(b"\0", b"\0", count_only=True))
    await r("a and dup", kv.range(P + b"a", P + b"e"))


# ---------------------------------------------------------------- request checks


async def txn_request_checks(r: Recorder) -> None:
    kv = r.kv
    await r("put a", kv.put(P + b"a", b"1"))
    dup = PutRequest(P + b"dup", b"1")
    # Compares are checked for empty keys too, at every level (etcd's checkTxnRequest).
    await r("compare with an empty key", kv.txn([compare_version(b"", "=", 0)], [], []))
    await r("nested compare with an empty key", kv.txn([], [TxnRequest((compare_version(b"", "=", 0),), (), ())], []))
    await r("compare with an empty key, then duplicates", kv.txn([compare_version(b"", "=", 0)], [dup, dup], []))
    # A nested txn's lists may hold max_txn_ops minus the longest list of the txn around it
    # (etcd's checkRequestOp(op, maxTxnOps-opc)). Reads only, so nothing is written either way.
    reads = [RangeRequest(P + b"a")] * 100

    def nested_reads(n: int) -> TxnRequest:
        return TxnRequest((), (RangeRequest(P + b"a"),) * n, ())

    await r("100 ops and a nested txn of 27", kv.txn([], [*reads, nested_reads(27)], []), post=lambda t: t.succeeded)
    await r("100 ops and a nested txn of 28", kv.txn([], [*reads, nested_reads(28)], []), post=lambda t: t.succeeded)
    await r(
        "101 compares and a nested txn of 28",
        kv.txn([compare_version(P + b"a", ">", 0)] * 101, [nested_reads(28)], []),
        post=lambda t: t.succeeded,
    )
    await r("a nested txn of 129", kv.txn([], [nested_reads(129)], []), post=lambda t: t.succeeded)
    await r("nothing was written", kv.range(b"\0", b"\0", count_only=True))


async def lease_ids(r: Recorder) -> None:
    kv = r.kv
    await r("grant", kv.lease_grant(10, 42))
    await r("grant the same ID again", kv.lease_grant(10, 42))
    await r("grant ID 0 picks one", kv.lease_grant(10, 0), post=lambda g: (g.id > 0, g.ttl, g.header))
    await r("grant the largest ID", kv.lease_grant(10, 2**63 - 1))
    await r("grant a negative ID (etcd takes it)", kv.lease_grant(10, -5))
    await r("time to live of the negative ID", kv.lease_time_to_live(-5), post=lambda t: (t.id, t.granted_ttl))
    chosen = {42, 2**63 - 1, -5}
    await r("leases", kv.leases(), post=lambda resp: sorted(s.id for s in resp.leases if s.id in chosen))


# ---------------------------------------------------------------- leases


async def leases(r: Recorder) -> None:
    kv = r.kv
    await r("grant with an explicit ID", kv.lease_grant(100, 0x1234))
    await r("grant without an ID picks one", kv.lease_grant(50), post=lambda g: (g.id != 0, g.ttl, g.header))
    for ttl in (1, 0, -5):
        # Raised to the minimum TTL (2 s for etcd's default election timeout); revoked at
        # once so it cannot expire during the scenario.
        await r(f"grant TTL {ttl}", kv.lease_grant(ttl, 0x1235))
        await r(f"revoke the TTL {ttl} lease", kv.lease_revoke(0x1235))
    await r("grant another", kv.lease_grant(200, 0x1236))
    await r("put a with lease", kv.put(P + b"a", b"1", lease=0x1234))
    await r("put b with lease", kv.put(P + b"b", b"1", lease=0x1234))
    await r("put c without", kv.put(P + b"c", b"1"))
    await r("put d with lease", kv.put(P + b"d", b"1", lease=0x1234))
    await r("move b to the other lease", kv.put(P + b"b", b"2", lease=0x1236))
    await r("move b back", kv.put(P + b"b", b"3", lease=0x1234))
    await r("detach d (lease 0)", kv.put(P + b"d", b"2"))

    def ttl_view(t: Any) -> Any:
        t.keys = sorted(t.keys)  # etcd lists a lease's keys in map order
        # The remaining TTL is whole seconds rounded down: just below the granted TTL once
        # any time has passed. How far below depends on each server's speed.
        if 0 < t.ttl < t.granted_ttl:
            t.ttl = "below granted"
        return t

    await r("time to live with keys", kv.lease_time_to_live(0x1234, keys=True), post=ttl_view)
    await r("time to live without keys", kv.lease_time_to_live(0x1234), post=ttl_view)
    await r("time to live of the other lease", kv.lease_time_to_live(0x1236, keys=True), post=ttl_view)
    await r("keep alive", kv.lease_keep_alive(0x1234))
    await r("leases", kv.leases(), post=lambda resp: sorted(s.id for s in resp.leases if s.id in (0x1234, 0x1236)))
    watcher = kv.watch(P, END, start_revision=0, prev_kv=True)
    await watcher.wait_created()
    rev = await r("revoke deletes its keys in one revision", kv.lease_revoke(0x1234))
    r.note("the revoke's events", await collect_events(watcher, rev.header.revision if rev else 0))
    await r("after revoke", kv.range(b"\0", b"\0"))
    await r("revoke again", kv.lease_revoke(0x1234))
    await r("keep alive of a revoked lease", kv.lease_keep_alive(0x1234))
    await r("time to live of a revoked lease", kv.lease_time_to_live(0x1234, keys=True))
    await r("keep alive of an unknown lease", kv.lease_keep_alive(0xDEAD))
    await r("time to live of an unknown lease", kv.lease_time_to_live(0xDEAD))
    await r("put e with the other lease", kv.put(P + b"e", b"1", lease=0x1236))
    await r("delete e", kv.delete_range(P + b"e"))
    await r("its lease has no keys left", kv.lease_time_to_live(0x1236, keys=True), post=ttl_view)
    await r("revoke a lease without keys: no revision", kv.lease_revoke(0x1236))
    await r("put after", kv.put(P + b"after", b"1"))


async def lease_expiry(r: Recorder) -> None:
    kv = r.kv
    await r("grant 2s", kv.lease_grant(2, 0x77))
    await r("put a with lease", kv.put(P + b"a", b"1", lease=0x77))
    await r("put b with lease", kv.put(P + b"b", b"1", lease=0x77))
    await r("put c without", kv.put(P + b"c", b"1"))
    # The expiry is the next write: a watch from revision 5 sees it as two DELETEs there.
    r.note("expiry events", await collect_events(kv.watch(P, END, start_revision=5), 5))
    await r("after expiry", kv.range(b"\0", b"\0"))
    await r("time to live of the expired lease", kv.lease_time_to_live(0x77))
    await r("keep alive of the expired lease", kv.lease_keep_alive(0x77))


# ---------------------------------------------------------------- watches


async def watches(r: Recorder) -> None:
    kv = r.kv
    await r("put a", kv.put(P + b"a", b"1"))  # 2
    await r("put b", kv.put(P + b"b", b"1"))  # 3
    await r("put a v2", kv.put(P + b"a", b"2"))  # 4
    await r("txn: put c, delete b", kv.txn([], [PutRequest(P + b"c", b"1"), DeleteRangeRequest(P + b"b")], []))  # 5
    await r("put outside", kv.put(b"/other", b"1"))  # 6
    await r("delete prefix", kv.delete_range(P, END))  # 7
    await r("put a again", kv.put(P + b"a", b"3"))  # 8
    last = 8
    r.note("prefix from 1", await collect_events(kv.watch(P, END, start_revision=1), last))
    r.note("prefix from 4, prev_kv", await collect_events(kv.watch(P, END, start_revision=4, prev_kv=True), last))
    r.note("one key from 2", await collect_events(kv.watch(P + b"a", start_revision=2, prev_kv=True), last))
    r.note("from key b on", await collect_events(kv.watch(P + b"b", b"\0", start_revision=2), 7))
    r.note("range [a, c)", await collect_events(kv.watch(P + b"a", P + b"c", start_revision=2), last))
    r.note(
        "NOPUT",
        await collect_events(kv.watch(P, END, start_revision=2, filters=[WatchFilterType.NOPUT]), 7),
    )
    r.note(
        "NODELETE, prev_kv",
        await collect_events(kv.watch(P, END, start_revision=2, prev_kv=True, filters=[WatchFilterType.NODELETE]), 8),
    )
    # Live: a watch from "now" (created before the writes) and one from a future revision.
    live = kv.watch(P, END, prev_kv=True)
    await live.wait_created()
    future = kv.watch(P, END, start_revision=last + 2)
    await future.wait_created()
    await r("put d", kv.put(P + b"d", b"1"))  # 9
    await r("put d v2", kv.put(P + b"d", b"2"))  # 10
    await r("delete a and d", kv.delete_range(P + b"a", P + b"e", prev_kv=True))  # 11
    await r("put outside again", kv.put(b"/other", b"2"))  # 12
    await r("put e", kv.put(P + b"e", b"1"))  # 13
    await r("lease", kv.lease_grant(100, 0xE))
    await r("put e with a lease, ignore_value", kv.put(P + b"e", lease=0xE, ignore_value=True))  # 14
    await r("put e ignore_lease", kv.put(P + b"e", b"2", ignore_lease=True))  # 15
    r.note("live", await collect_events(live, 15))
    r.note("from a future revision", await collect_events(future, 15))
    r.note("everything from 1", await collect_events(kv.watch(b"\0", b"\0", start_revision=1), 15))


# ---------------------------------------------------------------- the tests


async def test_puts_and_ranges(backends: Backends) -> None:
    """etcd: puts (prev_kv, ignore_value, ignore_lease) and ranges (single key, prefix, from-key,
    intervals, limit / more / count, keys_only, count_only) give the same responses."""
    await run_both(backends, puts_and_ranges)


async def test_range_sorts_and_filters(backends: Backends) -> None:
    """etcd: every sort order and target, with and without limit, and min/max mod/create
    revision filters give the same kvs, count and more."""
    await run_both(backends, sorts_and_filters)


async def test_ranges_at_revisions(backends: Backends) -> None:
    """etcd: reading at each past revision (and 0, the current one) sees the same history."""
    await run_both(backends, ranges_at_revisions)


async def test_delete_range(backends: Backends) -> None:
    """etcd: deletes of a key, a prefix, an interval and from a key on, with prev_kv; deleting
    nothing makes no revision; a deleted key starts again at version 1."""
    await run_both(backends, deletes)


async def test_txn_compares(backends: Backends) -> None:
    """etcd: every compare target and result on a key, a missing key, a range and an empty
    range decides the branch the same way."""
    await run_both(backends, txn_compares)


async def test_txn_branches(backends: Backends) -> None:
    """etcd: both branches, reads seeing the txn's earlier writes, read-only txns making no
    revision, nested txns whose compares see the state before the txn."""
    await run_both(backends, txn_branches)


async def test_compaction(backends: Backends) -> None:
    """etcd: compaction bounds, reads below / at / above the compact revision, and watches
    from below it (canceled with the compact revision) and at it."""
    await run_both(backends, compaction)


async def test_errors(backends: Backends) -> None:
    """etcd: future and compacted revisions, empty keys, too many ops, duplicate keys, unknown
    leases, lease ID reuse, ignore_* misuse and oversized requests raise the same error class
    with etcd's message, and write nothing."""
    await run_both(backends, errors)


async def test_txn_request_checks(backends: Backends) -> None:
    """etcd: a txn's compares need keys at every nesting level, and a nested txn's lists may
    hold max_txn_ops minus the longest list of the txn around it; both are checked before
    anything else (etcd's checkTxnRequest)."""
    await run_both(backends, txn_request_checks)


async def test_lease_ids(backends: Backends) -> None:
    """etcd: a grant takes the ID it is given (any nonzero int64), refuses one in use with
    `lease already exists`, and picks a positive one for ID 0."""
    await run_both(backends, lease_ids)


async def test_leases(backends: Backends) -> None:
    """etcd: grant with an explicit ID and the minimum TTL, time_to_live with keys, keep_alive,
    revoke deleting the keys in one revision, and the answers for unknown leases (keep_alive
    TTL 0, time_to_live TTL -1)."""
    await run_both(backends, leases)


async def test_lease_expiry(backends: Backends) -> None:
    """etcd: an expired lease's keys are deleted in one revision, seen as DELETE events."""
    await run_both(backends, lease_expiry)


async def test_watches(backends: Backends) -> None:
    """etcd: watches from past, current and future revisions, over a key, a prefix, an
    interval and everything, with prev_kv and NOPUT / NODELETE filters, see the same events."""
    await run_both(backends, watches)
