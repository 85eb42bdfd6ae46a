"""The `kvs` command.

kvs run     a short tour of the embedded store: writes, a txn, a watch, a lease, compaction
kvs bench   the benchmark suite (see bench/README.md)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import signal
import sys
import tempfile
from collections.abc import Sequence

import kvstore
from kvstore.messages import EventType, PutRequest, WatchResponse, compare_version, prefix_range_end
from kvstore.server.send_gate import DEFAULT_MAX_PACE
from kvstore.version import __version__


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


def _run(args: argparse.Namespace) -> int:
    if args.data_dir:
        return asyncio.run(_demo(args.data_dir))
    with tempfile.TemporaryDirectory(prefix="kvs-demo-") as tmp:
        return asyncio.run(_demo(tmp))


SERVE_GC_THRESHOLD = 10_000  # young-generation threshold of `kvs serve` (CPython's default: 700)


def _tune_gc() -> None:
    """Garbage collection for a long-running server: every call allocates and frees many
    small objects, so collect young ones less often, and leave what startup built (the
    store's index, modules) out of every later collection. About 3% of CPU per put."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(SERVE_GC_THRESHOLD, gen1, gen2)


async def _serve_main(args: argparse.Namespace) -> int:
    from kvstore.server import Server, parse_listen_url

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        urls = [u for u in args.listen_client_urls.split(",") if u]
        for url in urls:
            parse_listen_url(url)
    except ValueError as exc:
        print(f"kvs serve: --listen-client-urls: {exc}", file=sys.stderr)
        return 2
    if not 0 <= args.watch_batch_max_delay <= 10:
        print("kvs serve: --watch-batch-max-delay: expected 0 to 10 seconds", file=sys.stderr)
        return 2
    data_dir = args.data_dir or f"{args.name}.kvs"
    store = kvstore.open(
        data_dir,
        fsync=not args.unsafe_no_fsync,
        max_request_bytes=args.max_request_bytes,
        max_txn_ops=args.max_txn_ops,
    )
    advertise = [u for u in (args.advertise_client_urls or "").split(",") if u]
    server = Server(
        store,
        urls,
        name=args.name,
        advertise_client_urls=advertise,
        watch_batch_max_delay=args.watch_batch_max_delay,
        grpc_server=args.grpc_server,
    )
    try:
        await server.start()
    except (OSError, RuntimeError) as exc:
        print(f"kvs serve: cannot listen on {args.listen_client_urls}: {exc}", file=sys.stderr)
        await store.close()
        return 1
    _tune_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"kvs serve: ready to serve client requests on {', '.join(server.client_urls)} "
        f"(member {store.member_id:x}, data dir {data_dir}, revision {store.revision})",
        file=sys.stderr,
        flush=True,
    )
    await stop.wait()
    print("kvs serve: stopping", file=sys.stderr, flush=True)
    await server.stop(grace=args.shutdown_grace)
    await store.close()
    print("kvs serve: stopped; every acknowledged write is on disk", file=sys.stderr, flush=True)
    return 0


def _bench(args: argparse.Namespace, rest: Sequence[str]) -> int:
    from bench.__main__ import main as bench_main  # the command spans every layer

    return bench_main(list(rest))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kvs", description="A Kubernetes-style control-plane kit.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="a tour of the embedded store")
    run.add_argument("--data-dir", help="store directory (default: a temporary one)")
    serve = sub.add_parser("serve", help="serve one store over etcd's v3 gRPC API")
    serve.add_argument("--name", default="default", help="member name (default: default)")
    serve.add_argument("--data-dir", help="store directory (default: NAME.kvs)")
    serve.add_argument(
        "--listen-client-urls",
        default="http://127.0.0.1:2379",
        help="comma-separated http://HOST:PORT to serve on (port 0: pick one)",
    )
    serve.add_argument("--advertise-client-urls", help="client URLs to report in the member list")
    serve.add_argument("--max-request-bytes", type=int, default=None, help="request size limit (default 1.5 MiB)")
    serve.add_argument("--max-txn-ops", type=int, default=None, help="ops per txn branch (default 128)")
    serve.add_argument(
        "--watch-batch-max-delay",
        type=float,
        default=DEFAULT_MAX_PACE,
        metavar="SECONDS",
        help="under fan-out load, the most a busy watch stream waits to gather revisions into one response "
        f"(default {DEFAULT_MAX_PACE:g}; 0: send every batch at once)",
    )
    serve.add_argument(
        "--grpc-server",
        choices=("native", "grpcio"),
        default="native",
        help="the server transport: native (our own HTTP/2, default) or grpcio (grpc.aio's server)",
    )
    serve.add_argument("--shutdown-grace", type=float, default=1.0, help="seconds running calls get on shutdown")
    serve.add_argument(
        "--unsafe-no-fsync", action="store_true", help="do not fsync commits (a machine crash can lose writes)"
    )
    sub.add_parser("bench", help="benchmarks (kvs bench --help)", add_help=False)
    parser.add_argument("--version", action="version", version=f"kvs {__version__}")
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        return _bench(args, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "serve":
        return asyncio.run(_serve_main(args))
    with contextlib.suppress(KeyboardInterrupt):
        return _run(args)
    return 130


if __name__ == "__main__":
    sys.exit(main())
