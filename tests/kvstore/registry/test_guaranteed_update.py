"""guaranteed_update, the one read-compare-write loop of update, patch and delete, checked
against kube-apiserver's GuaranteedUpdate: races, preconditions, no-op writes, deletes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pytest

import kvstore
from apimachinery.errors import ConflictError, NotFoundError, RequestEntityTooLargeError
from apimachinery.schema import GroupVersionResource
from kvstore.api import KV
from kvstore.messages import Compare, DeleteRangeRequest, RequestOp, TxnResponse
from kvstore.registry import Registry, codec, keys
from kvstore.registry.storage import RETRIES, Outcome, Remove, guaranteed_update

CMS = GroupVersionResource("", "v1", "configmaps")
KEY = keys.object_key(CMS, "default", "cm")


class RacingStore:
    """The store, with a rival writer relabelling the object just before each of our next
    `races` transactions (so each of them loses the compare on mod_revision)."""

    def __init__(self, store: kvstore.Store, races: int) -> None:
        self.store = store
        self.races = races
        self.rivals = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def txn(
        self, compare: Sequence[Compare] = (), success: Sequence[RequestOp] = (), failure: Sequence[RequestOp] = ()
    ) -> TxnResponse:
        if self.races:
            self.races -= 1
            self.rivals += 1
            resp = await self.store.range(KEY)
            rival = codec.decode(resp.kvs[0].value, resp.kvs[0].mod_revision)
            rival["metadata"].setdefault("labels", {})["rival"] = str(self.rivals)
            await self.store.put(KEY, codec.encode(rival))
        return await self.store.txn(compare, success, failure)


class Labeller:
    """A try_update adding one label, recording every object it was called with."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def __call__(self, current: dict[str, Any]) -> dict[str, Any]:
        self.seen.append(current)
        md = dict(current["metadata"], labels={**current["metadata"].get("labels", {}), "mine": "yes"})
        return {**current, "metadata": md}


@pytest.fixture
async def stored(store: kvstore.Store) -> dict[str, Any]:
    registry = Registry(store)
    await registry.bootstrap()
    return await registry.create(CMS, {"metadata": {"name": "cm"}, "data": {"k": "v"}}, "default")


async def _get(store: kvstore.Store) -> dict[str, Any]:
    resp = await store.range(KEY)
    return codec.decode(resp.kvs[0].value, resp.kvs[0].mod_revision)


async def test_a_lost_race_without_a_precondition_retries_on_the_newer_object(
    store: kvstore.Store, stored: dict[str, Any]
) -> None:
    """GuaranteedUpdate without preconditions: when another writer wins the compare-and-swap,
    re-read and call tryUpdate again on the newer object; both changes survive."""
    kv, change = RacingStore(store, races=2), Labeller()
    updated = await guaranteed_update(cast(KV, kv), Registry(store).mapper.info(CMS), "default", "cm", change)
    assert updated.outcome is Outcome.WRITTEN and len(change.seen) == 3
    assert [s["metadata"].get("labels", {}).get("rival") for s in change.seen] == [None, "1", "2"]
    assert updated.obj["metadata"]["labels"] == {"rival": "2", "mine": "yes"}
    assert updated.obj["metadata"]["resourceVersion"] == str(store.revision)
    assert await _get(store) == updated.obj


async def test_a_lost_race_with_a_resource_version_is_409_not_a_retry(
    store: kvstore.Store, stored: dict[str, Any]
) -> None:
    """An update carrying metadata.resourceVersion is a precondition: losing the race to
    another writer is 409 Conflict ("the object has been modified"), never a retry."""
    kv, change = RacingStore(store, races=1), Labeller()
    info = Registry(store).mapper.info(CMS)
    rv = int(stored["metadata"]["resourceVersion"])
    with pytest.raises(ConflictError, match="the object has been modified"):
        await guaranteed_update(cast(KV, kv), info, "default", "cm", change, resource_version=rv)
    assert len(change.seen) == 1
    assert (await _get(store))["metadata"]["labels"] == {"rival": "1"}  # the rival's write, not ours


async def test_a_stale_resource_version_is_409_before_try_update(store: kvstore.Store, stored: dict[str, Any]) -> None:
    """The precondition is checked against the stored object before tryUpdate runs (kube's
    Preconditions.Check): a stale resourceVersion never reaches the strategy."""
    change = Labeller()
    info = Registry(store).mapper.info(CMS)
    rv = int(stored["metadata"]["resourceVersion"])
    await store.put(KEY, codec.encode(stored))  # moves the object to a newer revision
    with pytest.raises(ConflictError, match="the object has been modified"):
        await guaranteed_update(store, info, "default", "cm", change, resource_version=rv)
    assert change.seen == []


async def test_endless_races_give_up_with_a_conflict(store: kvstore.Store, stored: dict[str, Any]) -> None:
    """The retries are bounded: a key that keeps changing under us is a 409 Conflict
    instead of a request that never ends."""
    kv, change = RacingStore(store, races=RETRIES + 5), Labeller()
    info = Registry(store).mapper.info(CMS)
    with pytest.raises(ConflictError, match="too many concurrent writers"):
        await guaranteed_update(cast(KV, kv), info, "default", "cm", change)
    assert len(change.seen) == RETRIES and "mine" not in (await _get(store))["metadata"]["labels"]


async def test_an_unchanged_result_writes_nothing(store: kvstore.Store, stored: dict[str, Any]) -> None:
    """kube-apiserver skips the write of an update that changes nothing: no new revision,
    the stored resourceVersion is returned."""
    rev = store.revision
    info = Registry(store).mapper.info(CMS)
    updated = await guaranteed_update(store, info, "default", "cm", lambda current: dict(current))
    assert updated.outcome is Outcome.UNCHANGED and updated.obj == stored
    assert store.revision == rev


async def test_a_missing_object_is_404(store: kvstore.Store, stored: dict[str, Any]) -> None:
    """GuaranteedUpdate of a key that does not exist (ignoreNotFound=false) is 404 NotFound."""
    info = Registry(store).mapper.info(CMS)
    with pytest.raises(NotFoundError, match='configmaps "gone" not found'):
        await guaranteed_update(store, info, "default", "gone", Labeller())


async def test_remove_deletes_with_the_strategy_ops_and_returns_the_last_state(
    store: kvstore.Store, stored: dict[str, Any]
) -> None:
    """A delete goes through the same loop: tryUpdate answers Remove, the key goes (with
    whatever else the resource's delete removes, in the same transaction) and the caller
    gets the object as it was last stored."""
    other = keys.object_key(CMS, "default", "other")
    await store.put(other, codec.encode({"metadata": {"name": "other"}}))
    info = Registry(store).mapper.info(CMS)

    def ops(key: bytes, obj: dict[str, Any]) -> list[RequestOp]:
        return [DeleteRangeRequest(key), DeleteRangeRequest(other)]

    updated = await guaranteed_update(store, info, "default", "cm", lambda current: Remove(current), delete_ops=ops)
    assert updated.outcome is Outcome.DELETED and updated.obj == stored
    assert (await store.range(KEY)).kvs == [] and (await store.range(other)).kvs == []


async def test_a_result_with_no_finalizer_left_is_deleted(store: kvstore.Store, stored: dict[str, Any]) -> None:
    """kube's shouldDeleteDuringUpdate: an update leaving an object being deleted without
    finalizers removes it; the result carries the delete's revision."""
    info = Registry(store).mapper.info(CMS)

    def finish(current: dict[str, Any]) -> dict[str, Any]:
        md = dict(current["metadata"], deletionTimestamp="2024-01-01T00:00:00Z", finalizers=[])
        return {**current, "metadata": md}

    updated = await guaranteed_update(store, info, "default", "cm", finish)
    assert updated.outcome is Outcome.DELETED
    assert updated.obj["metadata"]["resourceVersion"] == str(store.revision)
    assert (await store.range(KEY)).kvs == []


async def test_an_update_over_the_request_limit_is_413_and_writes_nothing(store: kvstore.Store) -> None:
    """The store's "request is too large" on an update is kube's 413 RequestEntityTooLarge."""
    registry = Registry(store)
    await registry.bootstrap()
    endpoints = GroupVersionResource("", "v1", "endpoints")  # no per-kind size rule before the store's
    small = await registry.create(endpoints, {"metadata": {"name": "ep"}}, "default")
    rev = store.revision
    big = {**small, "subsets": [{"note": "x" * (store.limits.max_request_bytes + 1)}]}
    with pytest.raises(RequestEntityTooLargeError, match="limit"):
        await registry.update(endpoints, big, "default")
    assert store.revision == rev
