"""The chunked sorted key set behaves like a sorted list of unique keys."""

from __future__ import annotations

from bisect import bisect_left

from hypothesis import given, settings
from hypothesis import strategies as st

from kvstore.mvcc.sorted_keys import SortedKeys

keys = st.binary(min_size=1, max_size=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(keys, max_size=300), st.lists(keys, max_size=50), keys, st.one_of(st.none(), keys))
def test_matches_a_sorted_list(added: list[bytes], dead: list[bytes], lo: bytes, hi: bytes | None) -> None:
    """Inserts, bulk removal and half-open slices agree with a plain sorted list (tiny chunks
    force many splits)."""
    sk = SortedKeys(load=2)
    ref: list[bytes] = []
    for k in added:
        if k not in ref:
            sk.add(k)
            ref.insert(bisect_left(ref, k), k)
    assert list(sk) == ref and len(sk) == len(ref)
    sk.discard_all(set(dead))
    ref = [k for k in ref if k not in set(dead)]
    assert list(sk) == ref
    expected = [k for k in ref if k >= lo and (hi is None or k < hi)]
    assert sk.slice(lo, hi) == expected
    for k in added[:10]:
        if k not in ref:
            sk.add(k)
            ref.insert(bisect_left(ref, k), k)
    assert list(sk) == ref


def test_built_from_keys_is_sorted_and_unique() -> None:
    sk = SortedKeys([b"b", b"a", b"c", b"a"], load=2)
    assert list(sk) == [b"a", b"b", b"c"] and sk == [b"a", b"b", b"c"]
    assert sk.slice(b"a\x00", b"c") == [b"b"]
    assert SortedKeys().slice(b"a", None) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), keys), max_size=300), keys, st.one_of(st.none(), keys))
def test_single_adds_and_discards_match_a_sorted_set(
    ops: list[tuple[bool, bytes]], lo: bytes, hi: bytes | None
) -> None:
    """One-key inserts and removals in any order (the watch cache's use) keep the set equal
    to a plain sorted set, slices included; discarding a missing key does nothing."""
    sk = SortedKeys(load=2)
    ref: set[bytes] = set()
    for add, k in ops:
        if add and k not in ref:
            sk.add(k)
            ref.add(k)
        elif not add:
            sk.discard(k)
            ref.discard(k)
    assert list(sk) == sorted(ref) and len(sk) == len(ref)
    assert sk.slice(lo, hi) == [k for k in sorted(ref) if k >= lo and (hi is None or k < hi)]
