"""SharedIndexInformer, its handlers, factory and listers: client-go's behaviour against the
real store, embedded and over gRPC (the `registry` fixture)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import kvstore
from apimachinery.client import ResourceClient
from apimachinery.errors import NotFoundError
from apimachinery.schema import GroupVersionResource
from informer.delta_fifo import DeletedFinalStateUnknown
from informer.factory import SharedInformerFactory
from informer.listwatch import ResourceListerWatcher
from informer.processor import ResourceEventHandlerFuncs
from informer.shared_informer import SharedIndexInformer
from informer.workqueue.clock import FakeClock
from tests.informer.recording import RecordingListerWatcher, until

CMS = GroupVersionResource("", "v1", "configmaps")


def cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}


class Recorder:
    """A handler that records every call as (kind, name, detail)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
        self.calls.append(("add", obj["metadata"]["name"], is_in_initial_list))

    def on_update(self, old: Any, new: Any) -> None:
        self.calls.append(("update", new["metadata"]["name"], (old["data"], new["data"])))

    def on_delete(self, obj: Any) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            self.calls.append(("delete", obj.key.split("/")[-1], "tombstone"))
        else:
            self.calls.append(("delete", obj["metadata"]["name"], None))


def informer_of(registry: ResourceClient, **options: Any) -> SharedIndexInformer:
    return SharedIndexInformer(ResourceListerWatcher(registry, CMS, "default"), **options)


async def test_handlers_see_the_initial_list_then_live_events(registry: ResourceClient) -> None:
    """client-go: initial objects arrive as on_add(obj, is_in_initial_list=True), then adds,
    updates and deletes in order; the cache is updated before handlers hear of a change."""
    await registry.create(CMS, cm("a", k="1"), "default")
    inf = informer_of(registry)
    rec = Recorder()
    reg = inf.add_event_handler(rec)
    inf.start()
    await until(reg.has_synced)
    assert rec.calls == [("add", "a", True)] and inf.has_synced()
    b = await registry.create(CMS, cm("b", k="1"), "default")
    b["data"] = {"k": "2"}
    await registry.update(CMS, b, "default")
    await registry.delete(CMS, "a", "default")
    await until(lambda: len(rec.calls) == 4)
    assert rec.calls[1:] == [("add", "b", False), ("update", "b", ({"k": "1"}, {"k": "2"})), ("delete", "a", None)]
    assert [o["metadata"]["name"] for o in inf.indexer.list()] == ["b"]
    await inf.stop()


async def test_a_handler_added_late_gets_the_cache_first(registry: ResourceClient) -> None:
    """client-go: a handler added after start receives synthetic adds for the cache (is_in_initial_list)
    before any live event, and its registration syncs after them."""
    for name in ("a", "b"):
        await registry.create(CMS, cm(name), "default")
    inf = informer_of(registry)
    inf.start()
    await until(inf.has_synced)
    late = Recorder()
    reg = inf.add_event_handler(late)
    await registry.create(CMS, cm("c"), "default")
    await until(lambda: len(late.calls) == 3)
    assert late.calls == [("add", "a", True), ("add", "b", True), ("add", "c", False)]
    assert reg.has_synced()
    await inf.stop()


async def test_a_slow_handler_delays_nobody(registry: ResourceClient) -> None:
    """client-go: each handler has its own buffer; a stuck handler holds up neither the cache nor others."""
    inf = informer_of(registry)
    stuck = asyncio.Event()

    async def never_returns(obj: Any, initial: bool) -> None:
        await stuck.wait()

    slow = inf.add_event_handler(ResourceEventHandlerFuncs(add_func=never_returns))
    fast = Recorder()
    inf.add_event_handler(fast)
    inf.start()
    await until(inf.has_synced)
    for i in range(20):
        await registry.create(CMS, cm(f"o{i}"), "default")
    await until(lambda: len(fast.calls) == 20)
    assert len(inf.indexer.list()) == 20 and slow.handled == 0
    stuck.set()
    await until(lambda: slow.handled == 20)
    await inf.stop()


async def test_resync_goes_only_to_handlers_whose_period_is_due(registry: ResourceClient) -> None:
    """client-go: a resync re-delivers cached objects as on_update(old, new) with the same
    resourceVersion, only to handlers whose resync period has passed."""
    await registry.create(CMS, cm("a", k="1"), "default")
    clock = FakeClock()
    inf = informer_of(registry, clock=clock)
    resyncing, quiet = Recorder(), Recorder()
    inf.add_event_handler(resyncing, resync_period=30)
    inf.add_event_handler(quiet, resync_period=0)
    inf.start()
    await until(inf.has_synced)
    await until(lambda: len(resyncing.calls) == 1 and len(quiet.calls) == 1)
    await until(clock.has_waiters)
    clock.step(30)
    await until(lambda: len(resyncing.calls) == 2)
    assert resyncing.calls[1] == ("update", "a", ({"k": "1"}, {"k": "1"}))
    await registry.create(CMS, cm("b"), "default")  # a live event after the resync reaches both
    await until(lambda: len(quiet.calls) == 2)
    assert quiet.calls == [("add", "a", True), ("add", "b", False)]
    await inf.stop()


async def test_transform_applies_before_caching(registry: ResourceClient) -> None:
    """client-go's TransformFunc: what handlers and the cache see is the transformed object."""
    await registry.create(CMS, cm("a", k="1", big="x" * 100), "default")
    inf = informer_of(registry)

    def drop_big(obj: Any) -> Any:
        return {**obj, "data": {k: v for k, v in obj.get("data", {}).items() if k != "big"}}

    inf.set_transform(drop_big)
    inf.start()
    await until(inf.has_synced)
    assert inf.indexer.get_by_key("default/a")["data"] == {"k": "1"}
    with pytest.raises(RuntimeError):
        inf.set_transform(drop_big)
    await inf.stop()


async def test_removed_handlers_hear_nothing_more(registry: ResourceClient) -> None:
    """client-go RemoveEventHandler: the handler stops receiving; the others go on."""
    inf = informer_of(registry)
    gone, staying = Recorder(), Recorder()
    reg = inf.add_event_handler(gone)
    inf.add_event_handler(staying)
    inf.start()
    await until(inf.has_synced)
    await registry.create(CMS, cm("a"), "default")
    await until(lambda: len(gone.calls) == 1 and len(staying.calls) == 1)
    await inf.remove_event_handler(reg)
    await registry.create(CMS, cm("b"), "default")
    await until(lambda: len(staying.calls) == 2)
    assert len(gone.calls) == 1
    await inf.stop()


async def test_objects_deleted_while_away_arrive_as_tombstones(registry: ResourceClient, store: kvstore.Store) -> None:
    """client-go: a relist that misses a cached object reports it as on_delete(DeletedFinalStateUnknown)."""
    for name in ("keep", "lost"):
        await registry.create(CMS, cm(name), "default")
    lw = RecordingListerWatcher(ResourceListerWatcher(registry, CMS, "default"))
    inf = SharedIndexInformer(lw, use_watch_list=False)
    rec = Recorder()
    inf.add_event_handler(rec)
    inf.start()
    await until(lambda: inf.has_synced() and lw.watch_started.is_set())
    lw.watch_gate.clear()
    lw.end_current_watch()
    await until(lambda: not lw.watch_started.is_set())
    await registry.delete(CMS, "lost", "default")
    # A later write, then compaction past the watch's next revision: the watch gets 410 and
    # the informer relists (the watch cache holds the delete's last state, so compacting only
    # that state away no longer forces a relist, as with kube-apiserver's cacher).
    await registry.create(CMS, cm("elsewhere"), "kube-system")
    await store.compact(store.revision)
    lw.watch_gate.set()
    await until(lambda: ("delete", "lost", "tombstone") in rec.calls)
    assert [o["metadata"]["name"] for o in inf.indexer.list()] == ["keep"]
    await inf.stop()


async def test_the_watch_error_handler_hears_list_failures(registry: ResourceClient) -> None:
    """client-go SetWatchErrorHandler: called with each list/watch error; the informer keeps trying."""
    missing = GroupVersionResource("nope.example.com", "v1", "things")
    inf = SharedIndexInformer(ResourceListerWatcher(registry, missing), use_watch_list=False)
    seen: list[BaseException] = []
    inf.set_watch_error_handler(lambda reflector, err: seen.append(err))
    inf.start()
    await until(lambda: len(seen) >= 1)
    assert isinstance(seen[0], NotFoundError) and not inf.has_synced()
    await inf.stop()


async def test_the_factory_shares_one_informer_per_resource(registry: ResourceClient) -> None:
    """client-go SharedInformerFactory: one informer per resource, start, wait for sync, listers."""
    await registry.create(CMS, cm("web", {"app": "web"}), "default")
    await registry.create(CMS, cm("db", {"app": "db"}), "kube-system")
    factory = SharedInformerFactory(registry)
    inf = factory.for_resource(CMS)
    assert factory.for_resource(CMS) is inf
    factory.start()
    synced = await factory.wait_for_cache_sync(timeout=20)
    assert synced == {CMS: True}
    lister = factory.lister(CMS)
    assert sorted(o["metadata"]["name"] for o in lister.list()) == ["db", "web"]
    assert [o["metadata"]["name"] for o in lister.list("app=web")] == ["web"]
    assert lister.namespaced("kube-system").get("db")["metadata"]["namespace"] == "kube-system"
    assert lister.namespaced("default").list("app=db") == []
    with pytest.raises(NotFoundError):
        lister.namespaced("default").get("db")
    await factory.shutdown()
    assert inf.is_stopped
