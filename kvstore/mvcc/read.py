"""Range reads over the index and the history rows, with etcd's range options."""

from __future__ import annotations

from typing import Any

from kvstore.errors import CompactedError, FutureRevisionError
from kvstore.messages import KeyValue, RangeRequest, SortOrder, SortTarget
from kvstore.mvcc.backend import decode_kv
from kvstore.mvcc.revision import key_of_int

_SORT_KEYS = {
    SortTarget.KEY: lambda kv: kv.key,
    SortTarget.VERSION: lambda kv: kv.version,
    SortTarget.CREATE: lambda kv: kv.create_revision,
    SortTarget.MOD: lambda kv: kv.mod_revision,
    SortTarget.VALUE: lambda kv: kv.value,
}


def check_revision(revision: int, current: int, compact_revision: int) -> int:
    """The revision a read at `revision` sees (0 or less: the current one), or an error."""
    if revision <= 0:
        return current
    if revision > current:
        raise FutureRevisionError(revision, current)
    if revision < compact_revision:
        raise CompactedError(compact_revision)
    return revision


def load(txn: Any, history_db: Any, rev: int) -> KeyValue:
    return decode_kv(txn.get(key_of_int(rev), db=history_db))


def finish_range(
    txn: Any, history_db: Any, req: RangeRequest, pairs: list[tuple[bytes, int]]
) -> tuple[list[KeyValue], int, bool]:
    """Turn the (key, revision) pairs of a range into (kvs, count, more) as etcd does.

    `count` is every key in the range; `more` says keys beyond `limit` exist. With a
    sort order or a revision filter every key is loaded first, then sorted and cut.
    """
    count = len(pairs)
    if req.count_only:
        return [], count, False
    limit = req.limit if req.limit > 0 else 0
    filtered = bool(req.min_mod_revision or req.max_mod_revision or req.min_create_revision or req.max_create_revision)
    if limit and not filtered and req.sort_order == SortOrder.NONE:
        pairs = pairs[: limit + 1]
    get = txn.get
    kvs = [decode_kv(get(key_of_int(r), db=history_db)) for _, r in pairs]
    if filtered:
        kvs = [kv for kv in kvs if _kept(req, kv)]
    sort_order = req.sort_order
    if req.sort_target != SortTarget.KEY and sort_order == SortOrder.NONE:
        sort_order = SortOrder.ASCEND
    if sort_order != SortOrder.NONE:
        kvs.sort(key=_SORT_KEYS[req.sort_target], reverse=sort_order == SortOrder.DESCEND)
    more = False
    if limit and len(kvs) > limit:
        del kvs[limit:]
        more = True
    if req.keys_only:
        kvs = [kv._replace(value=b"") for kv in kvs]
    return kvs, count, more


def _kept(req: RangeRequest, kv: KeyValue) -> bool:
    if req.max_mod_revision and kv.mod_revision > req.max_mod_revision:
        return False
    if req.min_mod_revision and kv.mod_revision < req.min_mod_revision:
        return False
    if req.max_create_revision and kv.create_revision > req.max_create_revision:
        return False
    return not (req.min_create_revision and kv.create_revision < req.min_create_revision)
