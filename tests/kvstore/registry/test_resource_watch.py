"""Watching resources: kube-apiserver's event types, selector transitions, bookmarks and 410."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import kvstore
from apimachinery import watch
from apimachinery.client import ResourceClient
from apimachinery.errors import BadRequestError
from apimachinery.schema import GroupVersionResource
from kvstore.errors import CompactedError
from kvstore.messages import prefix_range_end
from kvstore.registry import Registry, ResourceWatch, keys
from kvstore.registry.selection import Selection
from kvstore.registry.watch import bookmark

CMS = GroupVersionResource("", "v1", "configmaps")


def cm(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}


async def take(w: watch.Interface, n: int) -> list[tuple[str, str, str]]:
    """The next n events as (type, name, resourceVersion)."""
    out = []
    for _ in range(n):
        e = await asyncio.wait_for(w.__anext__(), 10)
        md = e["object"].get("metadata", {})
        out.append((e["type"], md.get("name", ""), md.get("resourceVersion", "")))
    return out


async def test_events_from_a_resource_version_in_revision_order(registry: ResourceClient, store: kvstore.Store) -> None:
    """Watch from N: ADDED, MODIFIED, DELETED for every change after N, each with its revision."""
    first = await registry.create(CMS, cm("a"), "default")
    rv = first["metadata"]["resourceVersion"]
    b = await registry.create(CMS, cm("b"), "default")
    b["data"] = {"k": "v"}
    b2 = await registry.update(CMS, b, "default")
    await registry.delete(CMS, "b", "default")
    w = await registry.watch(CMS, "default", resource_version=rv)
    events = await take(w, 3)
    assert [(t, n) for t, n, _ in events] == [("ADDED", "b"), ("MODIFIED", "b"), ("DELETED", "b")]
    revs = [int(r) for _, _, r in events]
    assert revs == sorted(revs) and revs[1] == int(b2["metadata"]["resourceVersion"])
    assert revs[2] == store.revision
    w.stop()


async def test_unset_resource_version_starts_with_the_current_state(registry: ResourceClient) -> None:
    """resourceVersion "" (and "0"): synthetic ADDED for what exists, then live events."""
    await registry.create(CMS, cm("a"), "default")
    existing = ["a"]
    for rv in ("", "0"):
        w = await registry.watch(CMS, "default", resource_version=rv)
        assert [e[:2] for e in await take(w, len(existing))] == [("ADDED", n) for n in existing]
        await registry.create(CMS, cm("new" + rv), "default")
        assert [e[:2] for e in await take(w, 1)] == [("ADDED", "new" + rv)]
        existing.append("new" + rv)
        w.stop()


async def test_selector_transitions_become_added_and_deleted(registry: ResourceClient) -> None:
    """An object that stops matching arrives as DELETED, one that starts matching as ADDED."""
    start = (await registry.list(CMS, "default"))["metadata"]["resourceVersion"]
    w = await registry.watch(CMS, "default", label_selector="app=web", resource_version=start)
    c = await registry.create(CMS, cm("x", {"app": "db"}), "default")
    c["metadata"]["labels"] = {"app": "web"}
    c = await registry.update(CMS, c, "default")
    c["data"] = {"k": "v"}
    c = await registry.update(CMS, c, "default")
    c["metadata"]["labels"] = {"app": "db"}
    c = await registry.update(CMS, c, "default")
    events = await take(w, 3)
    assert [e[:2] for e in events] == [("ADDED", "x"), ("MODIFIED", "x"), ("DELETED", "x")]
    assert events[2][2] == c["metadata"]["resourceVersion"]  # the DELETED carries the change's revision
    w.stop()


async def test_bookmarks_only_when_allowed(registry: ResourceClient, store: kvstore.Store) -> None:
    """allowWatchBookmarks: BOOKMARKs carrying only the resourceVersion everything up to has been
    delivered, about every bookmark interval (kube-apiserver: about every minute); none without it."""
    start = (await registry.list(CMS, "default"))["metadata"]["resourceVersion"]
    plain = await registry.watch(CMS, "default", resource_version=start)
    w = await registry.watch(CMS, "default", resource_version=start, allow_watch_bookmarks=True)
    await registry.create(CMS, cm("a"), "default")
    assert (await take(w, 1))[0][:2] == ("ADDED", "a")
    mark = await asyncio.wait_for(w.__anext__(), 10)
    assert mark["type"] == "BOOKMARK" and mark["object"]["kind"] == "ConfigMap"
    assert mark["object"]["metadata"] == {"resourceVersion": str(store.revision)}
    w.stop()
    await registry.create(CMS, cm("b"), "default")  # a bookmark interval has passed: still no BOOKMARK
    assert [e[:2] for e in await take(plain, 2)] == [("ADDED", "a"), ("ADDED", "b")]
    plain.stop()


async def test_send_initial_events_ends_with_an_annotated_bookmark(registry: ResourceClient) -> None:
    """sendInitialEvents=true: ADDED for the current state, then BOOKMARK k8s.io/initial-events-end."""
    await registry.create(CMS, cm("a"), "default")
    await registry.create(CMS, cm("b"), "default")
    w = await registry.watch(
        CMS,
        "default",
        send_initial_events=True,
        resource_version_match="NotOlderThan",
        allow_watch_bookmarks=True,
    )
    events = [await asyncio.wait_for(w.__anext__(), 10) for _ in range(3)]
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "BOOKMARK"]
    assert events[2]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    with pytest.raises(BadRequestError):
        await registry.watch(CMS, "default", send_initial_events=True, allow_watch_bookmarks=True)
    w.stop()


async def test_a_compacted_resource_version_yields_a_410_error_event(
    registry: ResourceClient, store: kvstore.Store
) -> None:
    first = await registry.create(CMS, cm("a"), "default")
    await registry.create(CMS, cm("b"), "default")
    await registry.create(CMS, cm("c"), "default")
    await store.compact(store.revision)
    w = await registry.watch(CMS, "default", resource_version=first["metadata"]["resourceVersion"])
    event = await asyncio.wait_for(w.__anext__(), 10)
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410 and event["object"]["reason"] == "Gone"
    assert "too old resource version" in event["object"]["message"]
    with pytest.raises(StopAsyncIteration):
        await w.__anext__()


async def test_a_delete_whose_last_state_was_compacted_ends_the_watch_with_410(
    registry: ResourceClient, store: kvstore.Store
) -> None:
    """kube-apiserver cannot send a DELETED without the object's last state (etcd PrevKv=nil) and
    ends the watch with an error; ours is a 410 ERROR so the client relists."""
    await registry.create(CMS, cm("a"), "default")
    start = str(store.revision)
    await registry.delete(CMS, "a", "default")
    await store.compact(store.revision)  # keeps the delete's revision, drops the state before it
    w = await registry.watch(CMS, "default", resource_version=start)
    event = await asyncio.wait_for(w.__anext__(), 10)
    assert event["type"] == "ERROR" and event["object"]["code"] == 410
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(w.__anext__(), 10)


async def test_a_resource_watch_delivers_what_it_was_built_with_first(store: kvstore.Store) -> None:
    """A watch list (sendInitialEvents) hands out the initial state, then its end BOOKMARK, then
    what the store's watch reports after the start revision; a start revision that was
    compacted away is one 410 ERROR after the initial events, and the watch ends."""
    registry = Registry(store)
    await registry.bootstrap()
    info = registry.mapper.info(CMS)
    selection = Selection.parse(info)
    a = await registry.create(CMS, cm("a"), "default")
    start = int(a["metadata"]["resourceVersion"])
    initial = [{"type": "ADDED", "object": a}, bookmark(info, start, initial_end=True)]
    prefix = keys.collection_prefix(CMS, "default")
    source = store.watch(prefix, prefix_range_end(prefix), start_revision=start + 1, prev_kv=True)
    w = ResourceWatch(selection, source, resource_version=start, initial_events=initial)
    await registry.create(CMS, cm("b"), "default")
    assert await take(w, 3) == [
        ("ADDED", "a", str(start)),
        ("BOOKMARK", "", str(start)),
        ("ADDED", "b", str(start + 1)),
    ]
    w.stop()
    gone = ResourceWatch(selection, CompactedError(start + 1), resource_version=start, initial_events=initial[:1])
    events = [e async for e in gone]
    assert [e["type"] for e in events] == ["ADDED", "ERROR"]
    assert events[1]["object"]["code"] == 410
    assert events[1]["object"]["message"] == f"too old resource version: {start} ({start + 1})"
