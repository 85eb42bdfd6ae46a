"""The in-memory key index: which revision holds a key's value at a given revision."""

from __future__ import annotations

from kvstore.mvcc import revision as rv
from kvstore.mvcc.index import INFINITE, TreeIndex


def build(*changes: tuple[bytes, int, bool]) -> TreeIndex:
    index = TreeIndex()
    version: dict[bytes, int] = {}
    for key, main, tomb in changes:
        if tomb:
            index.tombstone(key, rv.to_int(main, 0))
            version[key] = 0
        else:
            version[key] = version.get(key, 0) + 1
            index.put(key, rv.to_int(main, 0), main, version[key], 0)
    return index


def at(index: TreeIndex, key: bytes, main: int) -> int | None:
    ki = index.get(key)
    r = None if ki is None else ki.at(rv.upper_bound(main))
    return None if r is None else rv.main_of(r)


def test_revision_ints_order_like_main_then_sub() -> None:
    """Index ints sort like etcd's (main, sub) revisions, with the tombstone flag below them."""
    ints = [rv.to_int(2, 0), rv.to_int(2, 1), rv.to_int(2, 1, True), rv.to_int(3, 0)]
    assert ints == sorted(ints)
    assert rv.unpack_key(rv.key_of_int(rv.to_int(7, 3, True))) == (7, 3)
    assert rv.rev_key(1, 2) < rv.rev_key(2, 0) < rv.rev_key(2, 1)


def test_lookup_at_a_revision_sees_the_latest_change_up_to_it() -> None:
    """etcd keyIndex.get: the newest revision <= N, or nothing if that was a delete."""
    index = build((b"k", 2, False), (b"k", 4, False), (b"k", 6, True), (b"k", 8, False))
    assert [at(index, b"k", n) for n in range(1, 10)] == [None, 2, 2, 4, 4, None, None, 8, 8]
    assert at(index, b"other", 9) is None


def test_compaction_keeps_what_reads_at_and_after_the_compact_revision_need() -> None:
    """etcd keyIndex.compact: keep the newest put below N unless a change at N shadows it;
    drop deleted keys whose tombstone is below N."""
    index = build(
        (b"a", 2, False), (b"a", 3, False),  # a: latest below 5 is a put -> kept
        (b"b", 2, False), (b"b", 4, True),  # b: deleted below 5 -> gone
        (b"c", 2, False), (b"c", 5, False),  # c: shadowed at 5 -> only 5 kept
        (b"d", 6, False),  # d: nothing below 5
    )  # fmt: skip
    removed = sorted(rv.main_of(r) for r in index.compact(5))
    assert removed == [2, 2, 2, 4]  # a@2, b@2, b@4 (the tombstone), c@2
    assert index.keys == [b"a", b"c", b"d"]
    assert [rv.main_of(r) for r in index.by_key[b"a"].revs] == [3]
    assert [rv.main_of(r) for r in index.by_key[b"c"].revs] == [5]
    assert at(index, b"a", 5) == 3 and at(index, b"c", 5) == 5 and at(index, b"d", 6) == 6


def test_key_ranges_follow_etcds_range_end_rules() -> None:
    """etcd: empty range_end is one key, "\\0" is every key from key on, else [key, range_end)."""
    index = build((b"a", 2, False), (b"b", 3, False), (b"c", 4, False), (b"c", 5, True))
    assert index.keys_in(b"a", b"") == [b"a"]
    assert index.keys_in(b"a", b"c") == [b"a", b"b"]
    assert index.keys_in(b"b", b"\0") == [b"b", b"c"]
    assert [k for k, _ in index.visible(b"\0", b"\0", INFINITE)] == [b"a", b"b"]  # c is deleted
