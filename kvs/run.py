"""`kvs run`: a short tour of the embedded store (writes, a txn, a watch, a lease, compaction)."""

from __future__ import annotations

import argparse
import asyncio
import tempfile

import kvstore
from kvstore.messages import EventType, PutRequest, WatchResponse, compare_version, prefix_range_end


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="a tour of the embedded store")
    run.add_argument("--data-dir", help="store directory (default: a temporary one)")


def _show(resp: WatchResponse) -> None:
    for ev in resp.events:
        kind = "PUT   " if ev.type == EventType.PUT else "DELETE"
        value = f" = {ev.kv.value.decode()!r}" if ev.type == EventType.PUT else ""
        print(f"  watch  rev {ev.kv.mod_revision:>3}  {kind} {ev.kv.key.decode()}{value}")


async def _demo(data_dir: str) -> int:
    prefix = b"/demo/"
    async with kvstore.open(data_dir, min_lease_ttl=1) as store:
        print(f"store at {data_dir}, revision {store.revision}")
        watcher = store.watch(prefix, prefix_range_end(prefix), start_revision=store.revision + 1)
        seen: list[int] = []
        progress = asyncio.Condition()

        async def follow() -> None:
            async for resp in watcher:
                _show(resp)
                seen.extend(ev.kv.mod_revision for ev in resp.events)
                async with progress:
                    progress.notify_all()

        async def watcher_reaches(revision: int) -> None:
            async with progress:
                await asyncio.wait_for(progress.wait_for(lambda: bool(seen) and seen[-1] >= revision), 30)

        follower = asyncio.create_task(follow())

        r = await store.put(prefix + b"config", b"v1")
        print(f"put    /demo/config            -> revision {r.header.revision}")
        r = await store.put(prefix + b"config", b"v2")
        print(f"put    /demo/config            -> revision {r.header.revision}")
        t = await store.txn(
            compare=[compare_version(prefix + b"leader", "=", 0)],
            success=[PutRequest(prefix + b"leader", b"node-a")],
        )
        print(f"txn    create /demo/leader if absent: succeeded={t.succeeded}, revision {t.header.revision}")
        t = await store.txn(
            compare=[compare_version(prefix + b"leader", "=", 0)],
            success=[PutRequest(prefix + b"leader", b"node-b")],
        )
        print(f"txn    again: succeeded={t.succeeded} (the key exists now), revision {t.header.revision}")

        lease = await store.lease_grant(1)
        await store.put(prefix + b"session", b"alive", lease=lease.id)
        print(f"lease  {lease.id:x} granted for {lease.ttl}s; /demo/session attached")

        old = await store.range(prefix + b"config", revision=2)
        print(f"range  /demo/config at revision 2 = {old.kvs[0].value.decode()!r}")
        await store.delete_range(prefix + b"config")

        # The lease expires by itself: its DELETE is the next revision the watcher sees.
        await watcher_reaches(store.revision + 1)
        print(f"lease  expired; /demo/session deleted at revision {store.revision}")

        await store.compact(store.revision)
        print(f"compact at revision {store.revision}")
        try:
            await store.range(prefix + b"config", revision=2)
        except kvstore.CompactedError as exc:
            print(f"range  at revision 2 now fails: {exc} (compact revision {exc.compact_revision})")

        final = await store.range(prefix, prefix_range_end(prefix))
        for kv in final.kvs:
            print(f"final  {kv.key.decode()} = {kv.value.decode()!r} (version {kv.version})")
        await watcher_reaches(store.revision)
        watcher.cancel()
        await follower
        print(f"the watcher saw {len(seen)} events, revisions {seen}")
        return 0


def main(args: argparse.Namespace) -> int:
    """Run the tour on `--data-dir` or in a temporary directory."""
    if args.data_dir:
        return asyncio.run(_demo(args.data_dir))
    with tempfile.TemporaryDirectory(prefix="kvs-demo-") as tmp:
        return asyncio.run(_demo(tmp))
