"""An informer against `kvs serve` while the server is killed and restarted and the store
compacts: it recovers by itself, its cache ends equal to the server's state, and every
handler sees a consistent story per object (client-go's guarantees)."""

from __future__ import annotations

import asyncio
from typing import Any

import kvstore
from apimachinery.client import ResourceClient
from apimachinery.errors import NotFoundError
from apimachinery.schema import GroupVersionResource
from informer import DeletedFinalStateUnknown, ResourceListerWatcher, SharedIndexInformer
from kvstore.registry import Registry
from tests.informer.recording import until
from tests.servers import KvsServer

CMS = GroupVersionResource("", "v1", "configmaps")


class StoryChecker:
    """Checks each key's handler calls: add first, no update before add, nothing after a delete but a re-add."""

    def __init__(self) -> None:
        self.alive: dict[str, bool] = {}
        self.problems: list[str] = []
        self.calls = 0
        self.tombstones = 0  # deletes learnt from a relist (DeletedFinalStateUnknown)

    def _key(self, obj: Any) -> str:
        if isinstance(obj, DeletedFinalStateUnknown):
            return obj.key
        md = obj["metadata"]
        return f"{md['namespace']}/{md['name']}"

    def on_add(self, obj: Any, is_in_initial_list: bool) -> None:
        key = self._key(obj)
        if self.alive.get(key):
            self.problems.append(f"add of {key} while it exists")
        self.alive[key] = True
        self.calls += 1

    def on_update(self, old: Any, new: Any) -> None:
        key = self._key(new)
        if not self.alive.get(key):
            self.problems.append(f"update of {key} before its add")
        if int(new["metadata"]["resourceVersion"]) < int(old["metadata"]["resourceVersion"]):
            self.problems.append(f"update of {key} went back in time")
        self.calls += 1

    def on_delete(self, obj: Any) -> None:
        key = self._key(obj)
        self.tombstones += isinstance(obj, DeletedFinalStateUnknown)
        if not self.alive.get(key):
            self.problems.append(f"delete of {key} that does not exist")
        self.alive[key] = False
        self.calls += 1


async def _churn(api: ResourceClient, round_: int, n: int = 30) -> None:
    for i in range(n):
        name = f"obj-{i % 12}"
        try:
            obj = await api.get(CMS, name, "default")
        except NotFoundError:
            await api.create(CMS, {"metadata": {"name": name}, "data": {"round": str(round_)}}, "default")
            continue
        if i % 3 == 0:
            await api.delete(CMS, name, "default")
        else:
            obj["data"] = {"round": str(round_), "i": str(i)}
            await api.update(CMS, obj, "default")


def _state(listed: dict[str, Any]) -> dict[str, str]:
    return {f"default/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in listed["items"]}


def _cached(informer: SharedIndexInformer) -> dict[str, str]:
    return {f"default/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in informer.indexer.list()}


async def test_an_informer_survives_kills_restarts_and_compaction(tmp_path: Any) -> None:
    """client-go: after a kill the reflector resumes or relists; objects deleted while it was
    away (their history compacted) reach handlers as exactly one DeletedFinalStateUnknown each."""
    server = await asyncio.to_thread(KvsServer(tmp_path / "data").start)
    checker = StoryChecker()
    gone_while_away = 0
    try:
        async with kvstore.connect(server.endpoint, timeout=60) as client:

            async def caught_up() -> dict[str, str]:
                expected = _state(await client.resources.list(CMS, "default"))
                await until(lambda: _cached(informer) == expected, 60)
                return expected

            await _churn(client.resources, 0)
            informer = SharedIndexInformer(ResourceListerWatcher(client.resources, CMS, "default"))
            informer.add_event_handler(checker)
            informer.start()
            try:
                await until(informer.has_synced, 60)
                for round_ in range(1, 4):
                    await _churn(client.resources, round_)
                    seen = await caught_up()  # what the informer knows when the server dies
                    await asyncio.to_thread(server.kill)  # SIGKILL: no goodbye to the watch
                    if round_ % 2:
                        # While the server is down: changes the informer cannot see, then their history goes.
                        async with kvstore.open(tmp_path / "data") as store:
                            offline = Registry(store)
                            await _churn(offline, round_ * 10)
                            gone = set(seen) - set(_state(await offline.list(CMS, "default")))
                            if not gone:  # make sure the relist has a deletion to report
                                first = sorted(seen)[0]
                                await offline.delete(CMS, first.split("/", 1)[1], "default")
                                gone = {first}
                            await store.compact(store.revision)
                        gone_while_away += len(gone)
                    await asyncio.to_thread(server.start)
                    await caught_up()  # resumed (or, after a compaction, relisted) before anything new
                    await _churn(client.resources, round_ * 100)
                    await caught_up()
                reflector = informer.reflector
                assert reflector is not None and reflector.lists >= 3  # the compactions made it relist
                assert checker.problems == []
                assert gone_while_away >= 2 and checker.tombstones == gone_while_away
                alive = {k for k, v in checker.alive.items() if v}
                assert alive == set(_cached(informer))
            finally:
                await informer.stop()
    finally:
        await asyncio.to_thread(server.close)
