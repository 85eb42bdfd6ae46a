"""The watch cache against the store-backed path: after any sequence of writes, lists (all
options) and watches (from every revision) agree (kube-apiserver's cacher must be
indistinguishable from reading etcd)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import kvstore
from apimachinery.errors import AlreadyExistsError, NotFoundError
from apimachinery.schema import GroupVersionResource
from kvstore.registry import Registry
from kvstore.registry.cache import CacheConfig

CMS = GroupVersionResource("", "v1", "configmaps")
NAMES = ["a", "b", "c", "d"]
NAMESPACES = ["default", "kube-system"]

ops = st.lists(
    st.tuples(
        st.sampled_from(["create", "update", "delete"]),
        st.sampled_from(NAMESPACES),
        st.sampled_from(NAMES),
        st.sampled_from(["web", "db"]),
    ),
    min_size=1,
    max_size=25,
)
LISTS: list[dict[str, Any]] = [
    {},
    {"limit": 2},
    {"label_selector": "app=web"},
    {"label_selector": "app!=web", "limit": 1},
    {"field_selector": "metadata.name=b"},
]


async def _drain(w: Any, n: int) -> list[tuple[str, str, str, str]]:
    out = []
    for _ in range(n):
        e = await asyncio.wait_for(w.__anext__(), 10)
        md = e["object"]["metadata"]
        out.append((e["type"], md.get("namespace", ""), md["name"], md["resourceVersion"]))
    return out


async def _run(script: list[tuple[str, str, str, str]], ring: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with kvstore.open(tmp + "/store") as store:
            cached = Registry(store, cache_config=CacheConfig(max_events=ring, watcher_capacity=3))
            await cached.bootstrap()
            plain = Registry(store, watch_cache=False)
            first = int((await cached.list(CMS))["metadata"]["resourceVersion"])
            live = await cached.watch(CMS, "", resource_version=str(first))
            live_sel = await cached.watch(CMS, "default", label_selector="app=web", resource_version=str(first))
            for op, ns, name, app in script:
                body = {"metadata": {"name": name, "labels": {"app": app}}, "data": {"op": op}}
                with contextlib.suppress(NotFoundError, AlreadyExistsError):
                    if op == "create":
                        await cached.create(CMS, body, ns)
                    elif op == "update":
                        await cached.update(CMS, body, ns)
                    else:
                        await cached.delete(CMS, name, ns)
            last = store.revision
            for ns in ["", *NAMESPACES]:
                for opts in LISTS:
                    assert await cached.list(CMS, ns, **opts) == await plain.list(CMS, ns, **opts), (ns, opts)
            # Watches from every revision since the cache started, with and without selectors.
            for rev in range(first, last + 1):
                for ns, sel in (("", ""), ("default", "app=web"), ("kube-system", "app!=web")):
                    a = await cached.watch(CMS, ns, label_selector=sel, resource_version=str(rev))
                    b = await plain.watch(CMS, ns, label_selector=sel, resource_version=str(rev))
                    want = await _count(plain, ns, sel, rev, last)
                    assert await _drain(a, want) == await _drain(b, want), (rev, ns, sel)
                    a.stop()
                    b.stop()
            # The watches opened before the writes, consumed only now (detached on the way).
            n_all = await _count(plain, "", "", first, last)
            n_sel = await _count(plain, "default", "app=web", first, last)
            ref_all = await plain.watch(CMS, "", resource_version=str(first))
            ref_sel = await plain.watch(CMS, "default", label_selector="app=web", resource_version=str(first))
            assert await _drain(live, n_all) == await _drain(ref_all, n_all)
            assert await _drain(live_sel, n_sel) == await _drain(ref_sel, n_sel)
            for w in (live, live_sel, ref_all, ref_sel):
                w.stop()
            cached.check_mutations()


async def _count(reg: Registry, ns: str, sel: str, rev: int, last: int) -> int:
    """How many events the store-backed watch from `rev` delivers up to `last`."""
    w = await reg.watch(CMS, ns, label_selector=sel, resource_version=str(rev), allow_watch_bookmarks=True)
    n = 0
    w.request_bookmark()
    while True:
        e = await asyncio.wait_for(w.__anext__(), 10)
        if e["type"] == "BOOKMARK":
            if int(e["object"]["metadata"]["resourceVersion"]) >= last:
                break
            w.request_bookmark()
            continue
        n += 1
    w.stop()
    return n


@settings(max_examples=40, deadline=None)
@given(ops, st.sampled_from([3, 10_000]))
def test_cache_and_store_agree_after_random_writes(script: list[tuple[str, str, str, str]], ring: int) -> None:
    asyncio.run(_run(script, ring))
