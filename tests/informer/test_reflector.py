"""Reflector: client-go's list-then-watch rules, against the real store (embedded and over gRPC)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import kvstore
from apimachinery import watch
from apimachinery.client import ResourceClient
from apimachinery.errors import BadRequestError, TooManyRequestsError
from apimachinery.schema import GroupVersionResource
from informer.listwatch import ListerWatcher, ListOptions, ResourceListerWatcher
from informer.reflector import Reflector
from informer.store import Indexer
from tests.informer.recording import RecordingListerWatcher, until

CMS = GroupVersionResource("", "v1", "configmaps")


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": data}


def names(store: Indexer) -> list[str]:
    return sorted(o["metadata"]["name"] for o in store.list())


async def start(lw: ListerWatcher, store: Indexer, **options: Any) -> tuple[Reflector, asyncio.Task[None]]:
    reflector = Reflector(lw, store, **options)
    return reflector, asyncio.create_task(reflector.run())


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_lists_at_zero_then_watches_from_the_lists_resource_version(registry: ResourceClient) -> None:
    """client-go: the first list asks for resourceVersion "0", the watch starts at the list's RV
    with bookmarks allowed and a timeout drawn between 5 and 10 minutes."""
    for i in range(3):
        await registry.create(CMS, cm(f"a{i}"), "default")
    lw = RecordingListerWatcher(ResourceListerWatcher(registry, CMS, "default"))
    store = Indexer()
    reflector, task = await start(lw, store, use_watch_list=False)
    await lw.watch_started.wait()
    assert [o.resource_version for o in lw.lists] == ["0"]
    watch = lw.watches[0]
    assert watch.resource_version == reflector.last_sync_resource_version != ""
    assert watch.allow_watch_bookmarks and 300 <= watch.timeout_seconds < 600
    await registry.create(CMS, cm("live"), "default")
    await until(lambda: "live" in names(store))
    assert names(store) == ["a0", "a1", "a2", "live"]
    await stop(task)


async def test_lists_page_by_page_on_one_snapshot(registry: ResourceClient) -> None:
    """client-go's pager: pages of `limit` items joined by continue tokens, one replace."""
    for i in range(7):
        await registry.create(CMS, cm(f"p{i}"), "default")
    lw = RecordingListerWatcher(ResourceListerWatcher(registry, CMS, "default"))
    store = Indexer()
    _, task = await start(lw, store, use_watch_list=False, page_size=3)
    await lw.watch_started.wait()
    assert [(o.limit, bool(o.continue_)) for o in lw.lists] == [(3, False), (3, True), (3, True)]
    assert len(store.list()) == 7
    await stop(task)


async def test_an_expired_continue_token_falls_back_to_a_full_list(
    registry: ResourceClient, store: kvstore.Store
) -> None:
    """client-go's pager: a 410 Expired on a continue token lists everything again without a limit."""
    for i in range(6):
        await registry.create(CMS, cm(f"e{i}"), "default")

    class CompactAfterFirstPage(RecordingListerWatcher):
        async def list(self, options: ListOptions) -> dict[str, Any]:
            if options.continue_ and len(self.lists) == 1:
                await registry.create(CMS, cm("later"), "default")
                await store.compact(store.revision)
            return await super().list(options)

    lw = CompactAfterFirstPage(ResourceListerWatcher(registry, CMS, "default"))
    cache = Indexer()
    _, task = await start(lw, cache, use_watch_list=False, page_size=4)
    await lw.watch_started.wait()
    assert [(o.limit, bool(o.continue_)) for o in lw.lists] == [(4, False), (4, True), (0, False)]
    assert len(cache.list()) == 7
    await stop(task)


async def test_a_410_on_the_watch_relists_at_the_last_resource_version_first(
    registry: ResourceClient, store: kvstore.Store
) -> None:
    """client-go: a watch that gets 410 relists at the last synced RV; only when that list
    is 410 too does it read "" (a consistent read). Nothing is lost on the way."""
    await registry.create(CMS, cm("first"), "default")
    lw = RecordingListerWatcher(ResourceListerWatcher(registry, CMS, "default"))
    cache = Indexer()
    reflector, task = await start(lw, cache, use_watch_list=False)
    await lw.watch_started.wait()
    synced = reflector.last_sync_resource_version
    lw.watch_gate.clear()  # the next watch waits while the store moves on and compacts
    lw.end_current_watch()
    await until(lambda: len(lw.watches) == 1 and not lw.watch_started.is_set())
    await registry.create(CMS, cm("while-away"), "default")
    await registry.delete(CMS, "first", "default")
    await store.compact(store.revision)
    lw.watch_gate.set()
    await until(lambda: names(cache) == ["while-away"])
    assert [o.resource_version for o in lw.lists] == ["0", synced, ""]
    assert reflector.relists_after_gone == 1 and not reflector.last_sync_resource_version_unavailable
    await stop(task)


async def test_a_watch_that_ends_is_restarted_without_relisting(registry: ResourceClient) -> None:
    """client-go: when the server ends a watch (its timeout), the reflector watches again from
    the last RV it saw; no list."""
    lw = RecordingListerWatcher(ResourceListerWatcher(registry, CMS, "default"))
    cache = Indexer()
    reflector, task = await start(lw, cache, use_watch_list=False)
    await lw.watch_started.wait()
    created = await registry.create(CMS, cm("x"), "default")
    await until(lambda: reflector.last_sync_resource_version == created["metadata"]["resourceVersion"])
    lw.end_current_watch()
    await lw.watch_started.wait()
    assert len(lw.lists) == 1 and len(lw.watches) == 2
    assert lw.watches[1].resource_version == created["metadata"]["resourceVersion"]
    await stop(task)


async def test_bookmarks_advance_the_resource_version_and_deliver_nothing(
    registry: ResourceClient, store: kvstore.Store
) -> None:
    """client-go: a BOOKMARK moves the reflector's resourceVersion; the store hears nothing."""
    lw = RecordingListerWatcher(ResourceListerWatcher(registry, CMS, "default"))
    cache = Indexer()
    reflector, task = await start(lw, cache, use_watch_list=False)
    await lw.watch_started.wait()
    other = GroupVersionResource("", "v1", "secrets")
    await registry.create(other, {"metadata": {"name": "s"}}, "default")  # outside the watched range
    await until(lambda: reflector.last_sync_resource_version == str(store.revision))
    assert cache.list() == [] and len(lw.watches) == 1
    await stop(task)


async def test_streaming_list_replaces_at_the_initial_events_end_bookmark(registry: ResourceClient) -> None:
    """client-go's WatchList: sendInitialEvents=true, synced at the bookmark annotated
    k8s.io/initial-events-end, then the same stream goes on; no list call at all."""
    for i in range(4):
        await registry.create(CMS, cm(f"s{i}"), "default")
    lw = RecordingListerWatcher(ResourceListerWatcher(registry, CMS, "default"))
    cache = Indexer()
    reflector, task = await start(lw, cache)
    await lw.watch_started.wait()
    await until(lambda: reflector.lists == 1)
    first = lw.watches[0]
    assert first.send_initial_events is True and first.resource_version_match == "NotOlderThan"
    assert len(cache.list()) == 4 and lw.lists == []
    await registry.create(CMS, cm("live"), "default")
    await until(lambda: "live" in names(cache))
    assert len(lw.watches) == 1
    await stop(task)


class NoStreamingLists:
    """A server from before streaming lists: sendInitialEvents is refused with 400."""

    def __init__(self, inner: ListerWatcher) -> None:
        self.inner = inner

    async def list(self, options: ListOptions) -> dict[str, Any]:
        return await self.inner.list(options)

    async def watch(self, options: ListOptions) -> watch.Interface:
        if options.send_initial_events is not None:
            raise BadRequestError("sendInitialEvents is not supported")
        return await self.inner.watch(options)


async def test_streaming_list_falls_back_to_list_and_watch(registry: ResourceClient) -> None:
    """client-go: when the server does not offer streaming lists, list+watch as before."""
    await registry.create(CMS, cm("a"), "default")
    lw = RecordingListerWatcher(NoStreamingLists(ResourceListerWatcher(registry, CMS, "default")))
    cache = Indexer()
    reflector, task = await start(lw, cache)
    await until(lambda: reflector.lists == 1 and lw.watch_started.is_set())
    assert not reflector.use_watch_list and [o.resource_version for o in lw.lists] == ["0"]
    assert names(cache) == ["a"]
    await stop(task)


async def test_list_errors_back_off_doubling_from_800ms(store: kvstore.Store) -> None:
    """client-go's backoff manager: 0.8 s doubling to 30 s with jitter, reset after 2 quiet minutes."""
    from informer.backoff import Backoff
    from informer.workqueue.clock import FakeClock

    clock = FakeClock()
    b = Backoff(clock=clock, jitter=0.0)
    assert [b.next_delay() for _ in range(8)] == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    clock.step(121)
    assert b.next_delay() == 0.8
    jittered = Backoff(clock=clock)
    assert all(0.8 <= jittered.next_delay() <= 1.6 for _ in range(1))


class RefusesOnce(RecordingListerWatcher):
    """The first watch is answered 429 Too Many Requests (an overloaded server)."""

    async def watch(self, options: ListOptions) -> watch.Interface:
        if not self.watches:
            self.watches.append(options)
            raise TooManyRequestsError("too many requests, please try again later")
        return await super().watch(options)


async def test_429_on_watch_backs_off_and_watches_again_without_relisting(registry: ResourceClient) -> None:
    """client-go: a watch refused with 429 (or connection refused) waits out the backoff and
    watches again from the same resourceVersion; no relist."""
    from informer.workqueue.clock import FakeClock

    await registry.create(CMS, cm("a"), "default")
    clock = FakeClock()
    lw = RefusesOnce(ResourceListerWatcher(registry, CMS, "default"))
    cache = Indexer()
    reflector, task = await start(lw, cache, use_watch_list=False, clock=clock)
    await until(clock.has_waiters)  # backing off, on the fake clock
    assert reflector.backoff.count == 1 and not lw.watch_started.is_set()
    clock.step(2.0)  # more than the first backoff (0.8 s plus at most 100% jitter)
    await lw.watch_started.wait()
    assert len(lw.lists) == 1 and [w.resource_version for w in lw.watches] == [reflector.last_sync_resource_version] * 2
    await registry.create(CMS, cm("b"), "default")
    await until(lambda: names(cache) == ["a", "b"])
    await stop(task)
