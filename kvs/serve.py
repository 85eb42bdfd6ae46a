"""`kvs serve`: one store over etcd's v3 gRPC API and the resource API, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys

import kvstore
from kvstore.server import Server, parse_listen_url
from kvstore.server.send_gate import DEFAULT_MAX_PACE
from kvstore.server.server import GRPC_SERVERS


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
        choices=GRPC_SERVERS,
        default="native",
        help="the server transport: native (our own HTTP/2, default) or grpcio (grpc.aio's server)",
    )
    serve.add_argument("--shutdown-grace", type=float, default=1.0, help="seconds running calls get on shutdown")
    serve.add_argument(
        "--unsafe-no-fsync", action="store_true", help="do not fsync commits (a machine crash can lose writes)"
    )


def main(args: argparse.Namespace) -> int:
    """Serve until a signal; 1 if the ports cannot be bound, 2 for a bad flag."""
    return asyncio.run(_serve(args))


SERVE_GC_THRESHOLD = 10_000  # young-generation threshold of `kvs serve` (CPython's default: 700)


def _tune_gc() -> None:
    """Garbage collection for a long-running server: every call allocates and frees many
    small objects, so collect young ones less often, and leave what startup built (the
    store's index, modules) out of every later collection. About 3% of CPU per put."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(SERVE_GC_THRESHOLD, gen1, gen2)


async def _serve(args: argparse.Namespace) -> int:
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
