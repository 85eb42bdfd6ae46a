"""Checks a request must pass before it is proposed: shape, types, limits.

These depend on the request alone, so a rejected request never reaches the apply
function and the store is untouched. They follow etcd's gRPC-layer checks: empty keys,
ops per txn branch, duplicate keys in a txn branch, ignore_value/ignore_lease misuse,
and the request size limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TypeVar

from kvstore.errors import (
    DuplicateKeyError,
    EmptyKeyError,
    InvalidArgumentError,
    LeaseProvidedError,
    RequestTooLargeError,
    TooManyOpsError,
    ValueProvidedError,
)
from kvstore.messages import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    PutRequest,
    RangeRequest,
    RequestOp,
    SortOrder,
    SortTarget,
    TxnRequest,
)

DEFAULT_MAX_REQUEST_BYTES = 1536 * 1024  # etcd's default --max-request-bytes, 1.5 MiB
DEFAULT_MAX_TXN_OPS = 128  # etcd's default --max-txn-ops
_OP_OVERHEAD = 16  # bytes counted per op for field tags and lengths, like a protobuf encoding

_E = TypeVar("_E", bound=IntEnum)


@dataclass(slots=True, frozen=True)
class Limits:
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_txn_ops: int = DEFAULT_MAX_TXN_OPS


def as_bytes(value: object, field: str, *, allow_empty: bool = True) -> bytes:
    """Accept bytes (or str, encoded as UTF-8) for a key or value field."""
    if isinstance(value, bytes):
        out = value
    elif isinstance(value, str):
        out = value.encode()
    elif isinstance(value, bytearray | memoryview):
        out = bytes(value)
    else:
        raise InvalidArgumentError(f"{field} must be bytes, got {type(value).__name__}", field)
    if not out and not allow_empty:
        raise EmptyKeyError(field)
    return out


def as_int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{field} must be an integer, got {type(value).__name__}", field)
    if not -(1 << 63) <= value < (1 << 63):
        raise InvalidArgumentError(f"{field} is out of the int64 range", field)
    return value


def as_enum(enum: type[_E], value: object, field: str) -> _E:
    try:
        return enum(value)  # type: ignore[arg-type]
    except (ValueError, TypeError):
        raise InvalidArgumentError(f"{field}: unknown {enum.__name__} value {value!r}", field) from None


INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
_RANGE_INTS = (
    "limit",
    "revision",
    "min_mod_revision",
    "max_mod_revision",
    "min_create_revision",
    "max_create_revision",
)


def put_request(
    key: object, value: object, lease: object, prev_kv: object, ignore_value: object, ignore_lease: object
) -> PutRequest:
    """A PutRequest from caller arguments: bytes or str key and value, an int64 lease."""
    # Fast path for the common types; anything else goes through the converters.
    if type(key) is not bytes:
        key = as_bytes(key, "key")
    if type(value) is not bytes:
        value = as_bytes(value, "value")
    if type(lease) is not int or not INT64_MIN <= lease <= INT64_MAX:
        lease = as_int(lease, "lease")
    return PutRequest(key, value, lease, bool(prev_kv), bool(ignore_value), bool(ignore_lease))


def range_request(
    key: object,
    range_end: object,
    limit: object,
    revision: object,
    sort_order: object,
    sort_target: object,
    serializable: object,
    keys_only: object,
    count_only: object,
    min_mod_revision: object,
    max_mod_revision: object,
    min_create_revision: object,
    max_create_revision: object,
) -> RangeRequest:
    """A RangeRequest from caller arguments: bytes or str keys, int64 numbers, known enums."""
    if type(key) is not bytes:
        key = as_bytes(key, "key")
    if type(range_end) is not bytes:
        range_end = as_bytes(range_end, "range_end")
    ints = (limit, revision, min_mod_revision, max_mod_revision, min_create_revision, max_create_revision)
    if any(type(n) is not int or not INT64_MIN <= n <= INT64_MAX for n in ints):
        for name, n in zip(_RANGE_INTS, ints, strict=True):
            as_int(n, name)
    order = as_enum(SortOrder, sort_order, "sort_order") if sort_order else SortOrder.NONE
    target = as_enum(SortTarget, sort_target, "sort_target") if sort_target else SortTarget.KEY
    return RangeRequest(
        key,
        range_end,
        limit,  # type: ignore[arg-type]
        revision,  # type: ignore[arg-type]
        order,
        target,
        bool(serializable),
        bool(keys_only),
        bool(count_only),
        min_mod_revision,  # type: ignore[arg-type]
        max_mod_revision,  # type: ignore[arg-type]
        min_create_revision,  # type: ignore[arg-type]
        max_create_revision,  # type: ignore[arg-type]
    )


def check_size(size: int, limits: Limits) -> int:
    if size > limits.max_request_bytes:
        raise RequestTooLargeError(size, limits.max_request_bytes)
    return size


def put_size(req: PutRequest) -> int:
    return len(req.key) + len(req.value) + _OP_OVERHEAD


def _require_bytes(value: object, field: str) -> None:
    if not isinstance(value, bytes):
        raise InvalidArgumentError(f"{field} must be bytes, got {type(value).__name__}", field)


def check_range(req: RangeRequest) -> None:
    _require_bytes(req.key, "key")
    _require_bytes(req.range_end, "range_end")
    if not req.key:
        raise EmptyKeyError()
    for name in ("limit", "revision", "min_mod_revision", "max_mod_revision", "min_create_revision"):
        as_int(getattr(req, name), name)
    as_int(req.max_create_revision, "max_create_revision")
    as_enum(SortOrder, req.sort_order, "sort_order")
    as_enum(SortTarget, req.sort_target, "sort_target")


def check_put(req: PutRequest) -> None:
    _require_bytes(req.key, "key")
    _require_bytes(req.value, "value")
    as_int(req.lease, "lease")
    if not req.key:
        raise EmptyKeyError()
    if req.ignore_value and req.value:
        raise ValueProvidedError()
    if req.ignore_lease and req.lease:
        raise LeaseProvidedError()


def check_delete(req: DeleteRangeRequest) -> None:
    _require_bytes(req.key, "key")
    _require_bytes(req.range_end, "range_end")
    if not req.key:
        raise EmptyKeyError()


def check_txn(req: TxnRequest, limits: Limits) -> int:
    """Validate a txn and its nested txns; return the request size in bytes.

    As etcd's checkTxnRequest: the longest of compare/success/failure must fit
    max_txn_ops, compare keys must not be empty, and a nested txn gets what its parent's
    longest list leaves of the budget. Then checkIntervals looks for duplicate keys.
    """
    size = _check_txn(req, limits.max_txn_ops)
    _check_intervals(req.success)
    _check_intervals(req.failure)
    return size


def _check_txn(req: TxnRequest, budget: int) -> int:
    for name in ("compare", "success", "failure"):
        if not isinstance(getattr(req, name), tuple):
            raise InvalidArgumentError(f"txn {name} must be a tuple of requests", name)
    lengths = {"compare": len(req.compare), "success": len(req.success), "failure": len(req.failure)}
    longest = max(lengths, key=lambda name: lengths[name])
    opc = lengths[longest]
    if opc > budget:
        raise TooManyOpsError(opc, budget, longest)
    size = _OP_OVERHEAD
    for c in req.compare:
        size += _check_compare(c)
    for op in (*req.success, *req.failure):
        size += _check_op(op, budget - opc)
    return size


def _check_compare(c: Compare) -> int:
    if not isinstance(c, Compare):
        raise InvalidArgumentError(f"compare must be a Compare, got {type(c).__name__}", "compare")
    as_enum(CompareResult, c.result, "compare.result")
    as_enum(CompareTarget, c.target, "compare.target")
    _require_bytes(c.key, "compare.key")
    _require_bytes(c.value, "compare.value")
    _require_bytes(c.range_end, "compare.range_end")
    if not c.key:
        raise EmptyKeyError("compare.key")
    for name in ("version", "create_revision", "mod_revision", "lease"):
        as_int(getattr(c, name), "compare." + name)
    return len(c.key) + len(c.value) + len(c.range_end) + _OP_OVERHEAD


def _check_op(op: RequestOp, budget: int) -> int:
    if isinstance(op, PutRequest):
        check_put(op)
        return put_size(op)
    if isinstance(op, DeleteRangeRequest):
        check_delete(op)
        return len(op.key) + len(op.range_end) + _OP_OVERHEAD
    if isinstance(op, RangeRequest):
        check_range(op)
        return len(op.key) + len(op.range_end) + _OP_OVERHEAD
    if isinstance(op, TxnRequest):
        return _check_txn(op, budget)
    raise InvalidArgumentError(f"txn op must be a request, got {type(op).__name__}", "txn")


class _Deletes:
    """Key intervals deleted in one txn branch: points and [key, range_end) ranges."""

    __slots__ = ("spans",)

    def __init__(self) -> None:
        self.spans: list[tuple[bytes, bytes | None]] = []

    def add(self, key: bytes, range_end: bytes) -> None:
        if not range_end:
            self.spans.append((key, key + b"\0"))
        elif range_end == b"\0":
            self.spans.append((key, None))
        else:
            self.spans.append((key, range_end))

    def covers(self, key: bytes) -> bool:
        return any(lo <= key and (hi is None or key < hi) for lo, hi in self.spans)

    def union(self, other: _Deletes) -> None:
        self.spans.extend(other.spans)


def _check_intervals(ops: tuple[RequestOp, ...]) -> tuple[set[bytes], _Deletes]:
    """etcd's checkIntervals: no key put twice, no key both put and deleted in one branch.

    The two branches of a nested txn exclude each other, so they may put the same key.
    """
    dels = _Deletes()
    for op in ops:
        if isinstance(op, DeleteRangeRequest):
            dels.add(op.key, op.range_end)
    puts: set[bytes] = set()
    for op in ops:
        if not isinstance(op, TxnRequest):
            continue
        puts_then, dels_then = _check_intervals(op.success)
        puts_else, dels_else = _check_intervals(op.failure)
        for k in puts_then:
            if k in puts or dels.covers(k):
                raise DuplicateKeyError(k)
            puts.add(k)
        for k in puts_else:
            if (k in puts and k not in puts_then) or dels.covers(k):
                raise DuplicateKeyError(k)
            puts.add(k)
        dels.union(dels_then)
        dels.union(dels_else)
    for op in ops:
        if isinstance(op, PutRequest):
            if op.key in puts or dels.covers(op.key):
                raise DuplicateKeyError(op.key)
            puts.add(op.key)
    return puts, dels
