"""Writes of existing objects under optimistic concurrency: kube-apiserver's GuaranteedUpdate.

    read the key ─> try_update(current) ─> nothing changed: return current, no write
         ^                                  otherwise: txn(mod_revision == the read's) put or delete
         └──── lost a race, and the caller asked for no particular resourceVersion (bounded)

Update, patch, the status and scale subresources and delete (marking finalizers, or removing
the key) all go through `guaranteed_update`, so the read-compare-write rules live once:
404 when the key is gone, 409 for a stale resourceVersion, an object whose last finalizer is
gone removed instead of written, 413 for an object over the store's request limit.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from apimachinery.errors import (
    OPTIMISTIC_LOCK_MESSAGE,
    ConflictError,
    NotFoundError,
    RequestEntityTooLargeError,
)
from apimachinery.schema import ResourceInfo
from kvstore.api import KV
from kvstore.errors import RequestTooLargeError
from kvstore.messages import (
    Compare,
    DeleteRangeRequest,
    PutRequest,
    RequestOp,
    TxnResponse,
    compare_mod_revision,
)
from kvstore.registry import codec, keys
from kvstore.registry.deletion import deletion_finished

RETRIES = 16
"""Reads and writes one guaranteed_update tries before giving up (409 Conflict)."""


@dataclass(frozen=True, slots=True)
class Remove:
    """What a try_update returns to delete the key now; `last` is what the caller gets back."""

    last: dict[str, Any]


class TryUpdate(Protocol):
    """The change to make to the object as read: the object to store, or Remove.

    Called again after a lost race, with the newer object; it must not change `current`
    and may raise (an API error) to refuse the write.
    """

    def __call__(self, current: dict[str, Any], /) -> dict[str, Any] | Remove: ...


DeleteOps = Callable[[bytes, dict[str, Any]], list[RequestOp]]
"""The operations of the transaction deleting `key` whose last state is the given object."""


def delete_key(key: bytes, obj: dict[str, Any]) -> list[RequestOp]:
    """Delete the object's key and nothing else."""
    return [DeleteRangeRequest(key)]


class Outcome(enum.Enum):
    UNCHANGED = "unchanged"
    """try_update changed nothing: no write, the stored resourceVersion."""
    WRITTEN = "written"
    DELETED = "deleted"


class Updated(NamedTuple):
    """What guaranteed_update did, and the object as written (or as last stored)."""

    obj: dict[str, Any]
    outcome: Outcome


async def txn(
    kv: KV, compares: Sequence[Compare], success: Sequence[RequestOp], failure: Sequence[RequestOp] = ()
) -> TxnResponse:
    """One write transaction; an object over the store's request limit is kube's 413."""
    try:
        return await kv.txn(compares, success, failure)
    except RequestTooLargeError as exc:
        raise RequestEntityTooLargeError(
            f"Request entity too large: the object is {exc.size} bytes, the limit is {exc.limit}"
        ) from None


async def guaranteed_update(
    kv: KV,
    info: ResourceInfo,
    namespace: str,
    name: str,
    try_update: TryUpdate,
    *,
    resource_version: int = 0,
    delete_ops: DeleteOps = delete_key,
) -> Updated:
    """Read the object, apply `try_update`, write the result under a mod_revision compare.

    `resource_version` (non-zero) is a precondition: the stored object must be at it (409
    Conflict otherwise, also when a writer wins the race). Without one a lost race re-reads
    and tries again, at most RETRIES times. A result being deleted with no finalizer left,
    or a Remove, deletes the key with `delete_ops` (the strategy's: a CRD takes its objects).
    """
    key = keys.object_key(info.gvr, namespace, name)
    for _ in range(RETRIES):
        resp = await kv.range(key)
        if not resp.kvs:
            raise NotFoundError.for_resource(info.gvr.resource, info.gvr.group, name)
        stored = resp.kvs[0]
        if resource_version and stored.mod_revision != resource_version:
            raise ConflictError.for_resource(info.gvr.resource, info.gvr.group, name, OPTIMISTIC_LOCK_MESSAGE)
        current = codec.decode(stored.value, stored.mod_revision, info.gvr.api_version)
        wanted = try_update(current)
        ops: list[RequestOp]
        if isinstance(wanted, Remove):
            obj, outcome, ops = wanted.last, Outcome.DELETED, delete_ops(key, wanted.last)
        elif _without_rv(wanted) == _without_rv(current):
            return Updated(current, Outcome.UNCHANGED)  # as kube-apiserver: no write, same resourceVersion
        elif deletion_finished(wanted):
            obj, outcome, ops = wanted, Outcome.DELETED, delete_ops(key, wanted)
        else:
            obj, outcome, ops = wanted, Outcome.WRITTEN, [PutRequest(key, codec.encode(wanted))]
        written = await txn(kv, [compare_mod_revision(key, "=", stored.mod_revision)], ops)
        if written.succeeded:
            if not isinstance(wanted, Remove):  # a Remove hands back the last stored state as read
                obj["metadata"]["resourceVersion"] = str(written.header.revision)
            return Updated(obj, outcome)
        if resource_version:
            raise ConflictError.for_resource(info.gvr.resource, info.gvr.group, name, OPTIMISTIC_LOCK_MESSAGE)
    raise ConflictError.for_resource(info.gvr.resource, info.gvr.group, name, "too many concurrent writers")


def _without_rv(obj: dict[str, Any]) -> dict[str, Any]:
    md = {k: v for k, v in obj.get("metadata", {}).items() if k != "resourceVersion"}
    return {**obj, "metadata": md}
