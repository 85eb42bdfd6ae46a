"""The watch cache (kube-apiserver's cacher): watches from inside and outside its ring,
consistent lists from memory, shared objects, bounded watchers, and the mutation detector."""

from __future__ import annotations

import asyncio
import copy
import tracemalloc
from typing import Any

import pytest

import kvstore
from apimachinery import watch
from apimachinery.schema import GroupVersionResource
from kvstore.errors import CacheMutationError
from kvstore.registry import Registry, ResourceWatch
from kvstore.registry.cache import CacheConfig, mutation
from kvstore.registry.cache.cache_watcher import CacheWatcher

CMS = GroupVersionResource("", "v1", "configmaps")


def cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}


async def take(w: watch.Interface, n: int) -> list[tuple[str, str, str]]:
    out = []
    for _ in range(n):
        e = await asyncio.wait_for(w.__anext__(), 10)
        md = e["object"]["metadata"]
        out.append((e["type"], md.get("name", ""), md["resourceVersion"]))
    return out


async def new_registry(store: kvstore.Store, **config: Any) -> Registry:
    reg = Registry(store, cache_config=CacheConfig(**config)) if config else Registry(store)
    await reg.bootstrap()
    return reg


async def test_a_watch_from_inside_the_ring_is_served_from_the_cache(store: kvstore.Store) -> None:
    """kube cacher: a watch whose resourceVersion the cache's window covers replays from it."""
    reg = await new_registry(store)
    start = (await reg.list(CMS, "default"))["metadata"]["resourceVersion"]  # starts the cache
    a = await reg.create(CMS, cm("a"), "default")
    await reg.update(CMS, {**a, "data": {"k": "v"}}, "default")
    await reg.delete(CMS, "a", "default")
    w = await reg.watch(CMS, "default", resource_version=start)
    assert isinstance(w, CacheWatcher)
    got = await take(w, 3)
    assert [(t, n) for t, n, _ in got] == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    assert [int(rv) for _, _, rv in got] == [int(start) + 1, int(start) + 2, int(start) + 3]
    w.stop()


async def test_a_watch_from_before_the_ring_goes_to_the_store(store: kvstore.Store) -> None:
    """kube cacher: older than the window is not the cache's to answer; here the store's
    watch answers it (kube-apiserver would say 410), and with history compacted it is 410."""
    reg = await new_registry(store, max_events=4)
    start = (await reg.list(CMS, "default"))["metadata"]["resourceVersion"]
    for i in range(8):
        await reg.create(CMS, cm(f"c{i}"), "default")
    w = await reg.watch(CMS, "default", resource_version=start)
    assert isinstance(w, ResourceWatch)  # the ring kept only the last 4 changes
    assert [n for _, n, _ in await take(w, 8)] == [f"c{i}" for i in range(8)]
    w.stop()
    inside = await reg.watch(CMS, "default", resource_version=str(store.revision - 2))
    assert isinstance(inside, CacheWatcher)
    assert [n for _, n, _ in await take(inside, 2)] == ["c6", "c7"]
    inside.stop()
    await store.compact(store.revision)
    gone = await reg.watch(CMS, "default", resource_version=str(store.revision - 2))
    event = await asyncio.wait_for(gone.__anext__(), 10)
    assert event["type"] == "ERROR" and event["object"]["code"] == 410


async def test_a_consistent_list_right_after_a_write_sees_it(store: kvstore.Store) -> None:
    """KEP-2340: a list at "" from the cache reflects every write acknowledged before it,
    at the store's current revision, even when the last write was to another resource."""
    reg = await new_registry(store)
    await reg.list(CMS, "default")
    for i in range(20):
        await reg.create(CMS, cm(f"x{i}"), "default")
        listed = await reg.list(CMS, "default")
        assert f"x{i}" in [o["metadata"]["name"] for o in listed["items"]]
    await reg.create(GroupVersionResource("", "v1", "secrets"), {"metadata": {"name": "s"}}, "default")
    assert (await reg.list(CMS, "default"))["metadata"]["resourceVersion"] == str(store.revision)


async def test_list_options_are_answered_from_memory_like_the_store(store: kvstore.Store) -> None:
    """Pages, selectors and remainingItemCount from the cache equal the store-backed list's;
    a continue token from the cache reads the store at the list's revision."""
    reg = await new_registry(store)
    plain = Registry(store, watch_cache=False)
    for i in range(7):
        await reg.create(CMS, cm(f"p{i}", {"odd": str(i % 2)}), "default")
    for opts in ({}, {"limit": 3}, {"label_selector": "odd=1"}, {"label_selector": "odd=1", "limit": 2}):
        cached, stored = await reg.list(CMS, "default", **opts), await plain.list(CMS, "default", **opts)
        assert cached == stored, opts
        token = cached["metadata"].get("continue")
        while token:
            cached = await reg.list(CMS, "default", continue_=token, **opts)
            assert cached == await plain.list(CMS, "default", continue_=token, **opts)
            token = cached["metadata"].get("continue")


async def test_every_watcher_and_list_share_one_decoded_object(store: kvstore.Store) -> None:
    """kube cacher: an event is decoded once and the same object goes to every watcher (and
    a later list); with no one reading it, nothing is decoded at all."""
    reg = await new_registry(store)
    start = (await reg.list(CMS, "default"))["metadata"]["resourceVersion"]
    w1 = await reg.watch(CMS, "default", resource_version=start)
    w2 = await reg.watch(CMS, "", resource_version=start)
    await reg.create(CMS, cm("shared"), "default")
    e1, e2 = await w1.__anext__(), await w2.__anext__()
    assert e1["object"] is e2["object"]
    assert (await reg.list(CMS, "default"))["items"][0] is e1["object"]
    w1.stop()
    w2.stop()


async def test_a_stalled_watcher_holds_a_bounded_buffer_and_loses_nothing(store: kvstore.Store) -> None:
    """A slow watcher never grows memory: past its capacity it is detached, then catches up
    from the ring or, once the ring has moved on, from the store; every event once, in order."""
    reg = await new_registry(store, max_events=300, watcher_capacity=50)
    start = (await reg.list(CMS, "default"))["metadata"]["resourceVersion"]
    stalled = await reg.watch(CMS, "default", resource_version=start)
    assert isinstance(stalled, CacheWatcher)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for i in range(1000):
            await reg.create(CMS, cm(f"s{i:04d}", **{"v": "x" * 512}), "default")
            assert stalled.pending <= 51  # capacity, plus the one batch that overflowed it
        held = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    # 1000 objects of ~0.6 KiB live in the store and in the cache's current state; the
    # watcher itself holds 51 references. Well below a copy per event per watcher.
    assert stalled.detached
    assert held < 4 << 20, held
    names = [n for _, n, _ in await take(stalled, 1000)]
    assert names == [f"s{i:04d}" for i in range(1000)]
    assert stalled.on_store  # the ring kept 300: the rest came from the store's history
    stalled.stop()


async def test_a_detached_watcher_catches_up_from_the_ring_and_rejoins(store: kvstore.Store) -> None:
    reg = await new_registry(store, watcher_capacity=10)
    start = (await reg.list(CMS, "default"))["metadata"]["resourceVersion"]
    w = await reg.watch(CMS, "default", resource_version=start)
    assert isinstance(w, CacheWatcher)
    for i in range(40):
        await reg.create(CMS, cm(f"r{i:02d}"), "default")
    assert w.detached
    assert [n for _, n, _ in await take(w, 40)] == [f"r{i:02d}" for i in range(40)]
    assert not w.detached and not w.on_store
    await reg.create(CMS, cm("live"), "default")
    assert [n for _, n, _ in await take(w, 1)] == ["live"]
    w.stop()


async def test_selector_transitions_from_the_cache(store: kvstore.Store) -> None:
    """kube cacher: a selector watch sees ADDED when an object starts matching, DELETED (its
    last state, at the change's revision) when it stops."""
    reg = await new_registry(store)
    start = (await reg.list(CMS, "default"))["metadata"]["resourceVersion"]
    w = await reg.watch(CMS, "default", label_selector="app=web", resource_version=start)
    a = await reg.create(CMS, cm("a", {"app": "db"}), "default")
    a = await reg.update(CMS, {**a, "metadata": {**a["metadata"], "labels": {"app": "web"}}}, "default")
    b = await reg.update(CMS, {**a, "metadata": {**a["metadata"], "labels": {"app": "db"}}}, "default")
    got = await take(w, 2)
    assert got == [("ADDED", "a", a["metadata"]["resourceVersion"]), ("DELETED", "a", b["metadata"]["resourceVersion"])]
    w.stop()


async def test_the_mutation_detector_catches_a_reader_that_changes_a_shared_object(store: kvstore.Store) -> None:
    """client-go's cache mutation detector, for the registry's cache: a reader that changes a
    cached object is named (resource, key, field); one that copies first is not."""
    reg = await new_registry(store, detect_mutations=True)
    await reg.create(CMS, cm("m", k="v"), "default")
    item = (await reg.list(CMS, "default"))["items"][0]
    mine = copy.deepcopy(item)
    mine["data"]["k"] = "changed"
    reg.check_mutations()  # a copy is the reader's own
    before = len(mutation.failures)
    item["data"]["k"] = "changed"
    with pytest.raises(CacheMutationError) as err:
        reg.check_mutations()
    assert err.value.resource == "configmaps" and err.value.key.endswith("/default/m")
    assert ".data.k" in err.value.diff
    assert len(mutation.failures) == before + 1
    del mutation.failures[before:]  # expected here; the suite fails a test that leaves one


async def test_with_the_cache_off_every_read_goes_to_the_store(store: kvstore.Store) -> None:
    reg = Registry(store, watch_cache=False)
    await reg.bootstrap()
    await reg.list(CMS, "default")
    w = await reg.watch(CMS, "default", resource_version=str(store.revision))
    assert isinstance(w, ResourceWatch) and await reg.cacher(reg.mapper.info(CMS)) is None
    w.stop()


async def test_an_informer_handler_that_changes_its_object_is_caught(store: kvstore.Store) -> None:
    """client-go: informers in the registry's process share the cache's objects; a handler
    that changes one instead of copying it is caught by the mutation detector."""
    from informer import ResourceListerWatcher, SharedIndexInformer

    reg = await new_registry(store, detect_mutations=True)
    seen = asyncio.Event()

    class Careless:
        def on_add(self, obj: dict[str, Any], is_in_initial_list: bool) -> None:
            obj["metadata"].setdefault("labels", {})["touched"] = "yes"
            seen.set()

        def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None: ...

        def on_delete(self, obj: dict[str, Any]) -> None: ...

    inf = SharedIndexInformer(ResourceListerWatcher(reg, CMS, "default"))
    inf.add_event_handler(Careless())
    inf.start()
    await reg.create(CMS, cm("victim"), "default")
    await asyncio.wait_for(seen.wait(), 10)
    await inf.stop()
    before = len(mutation.failures)
    with pytest.raises(CacheMutationError) as err:
        reg.check_mutations()
    assert "touched" in err.value.diff
    del mutation.failures[before:]
