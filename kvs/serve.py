"""`kvs serve`: one store over etcd's v3 gRPC API and the resource API, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import logging
import re
import signal
import sys

import kvstore
from h2grpc.limits import Limits
from kvs.open_files import raise_open_files_limit
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
    serve.add_argument(
        "--watch-cache",
        type=_true_or_false,
        default=True,
        metavar="true|false",
        help="serve resource lists and watches from a cache per resource, as kube-apiserver's --watch-cache "
        "(default true; false: every list and watch reads the store)",
    )
    serve.add_argument("--shutdown-grace", type=float, default=1.0, help="seconds running calls get on shutdown")
    defaults = Limits()
    serve.add_argument(
        "--max-concurrent-streams",
        type=int,
        default=defaults.max_concurrent_streams,
        help=f"streams one client connection may have open (default {defaults.max_concurrent_streams})",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=defaults.max_connections,
        help=f"open client connections; past it a new one is closed (default {defaults.max_connections})",
    )
    serve.add_argument(
        "--max-connection-idle",
        type=parse_duration,
        default=defaults.max_connection_idle,
        metavar="DURATION",
        help="close a connection with no open stream after this long (default 90s; 0: never)",
    )
    serve.add_argument(
        "--grpc-keepalive-min-time",
        type=parse_duration,
        default=defaults.min_ping_interval,
        metavar="DURATION",
        help="the shortest interval between client pings the server tolerates (default 5s)",
    )
    serve.add_argument(
        "--grpc-keepalive-interval",
        type=parse_duration,
        default=defaults.keepalive_interval,
        metavar="DURATION",
        help="ping a client after this long without a frame from it (default 2h; 0: never)",
    )
    serve.add_argument(
        "--grpc-keepalive-timeout",
        type=parse_duration,
        default=defaults.keepalive_timeout,
        metavar="DURATION",
        help="close the connection if a ping is not answered this soon (default 20s)",
    )
    serve.add_argument(
        "--http2-limit",
        action="append",
        default=[],
        type=parse_limit,
        metavar="NAME=VALUE",
        help="any other field of h2grpc.limits.Limits (repeatable), e.g. max_resets=200 or handshake_timeout=2s",
    )
    serve.add_argument(
        "--unsafe-no-fsync", action="store_true", help="do not fsync commits (a machine crash can lose writes)"
    )


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str) -> float:
    """A duration as etcd's flags take it (Go's syntax: `5s`, `100ms`, `2h0m0s`) or a bare
    number of seconds; in seconds."""
    text = text.strip()
    wrong = f"{text!r}: expected a duration such as 5s, 100ms, 2h or 1.5"
    try:
        seconds = float(text)
    except ValueError:
        if not text:
            raise argparse.ArgumentTypeError(wrong) from None
        pos = 0
        seconds = 0.0
        while pos < len(text):
            match = _DURATION_PART.match(text, pos)
            if match is None:
                raise argparse.ArgumentTypeError(wrong) from None
            seconds += float(match[1]) * _UNIT_SECONDS[match[2]]
            pos = match.end()
    if not seconds >= 0:  # negative, or nan
        raise argparse.ArgumentTypeError(f"{text!r}: a duration may not be negative")
    return seconds


_LIMIT_FIELDS = {f.name: f for f in dataclasses.fields(Limits)}
# Fields that --http2-limit does not set: the server takes them from other flags and the store.
_LIMITS_BY_FLAG = {
    "max_receive_message_length": "--max-request-bytes",
    "max_concurrent_streams": "--max-concurrent-streams",
    "max_connections": "--max-connections",
    "max_connection_idle": "--max-connection-idle",
    "min_ping_interval": "--grpc-keepalive-min-time",
    "keepalive_interval": "--grpc-keepalive-interval",
    "keepalive_timeout": "--grpc-keepalive-timeout",
}


def _true_or_false(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() in ("true", "1")


def parse_limit(text: str) -> tuple[str, int | float | bool]:
    """`NAME=VALUE` for a field of `Limits`: a count, a size, a duration or true/false."""
    name, sep, raw = text.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or name not in _LIMIT_FIELDS:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE, NAME one of {', '.join(_LIMIT_FIELDS)}")
    if name in _LIMITS_BY_FLAG:
        raise argparse.ArgumentTypeError(f"{name}: set it with {_LIMITS_BY_FLAG[name]}")
    default = getattr(Limits(), name)
    raw = raw.strip()
    if isinstance(default, bool):
        if raw.lower() not in ("true", "false", "1", "0"):
            raise argparse.ArgumentTypeError(f"{name}: expected true or false, got {raw!r}")
        return name, raw.lower() in ("true", "1")
    if isinstance(default, float):
        return name, parse_duration(raw) if not name.endswith("_per_second") else _number(name, raw, float)
    return name, _number(name, raw, int)


def _number(name: str, raw: str, kind: type[int] | type[float]) -> int | float:
    try:
        value = kind(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: expected a number, got {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{name}: may not be negative, got {raw!r}")
    return value


def limits_from_args(args: argparse.Namespace) -> Limits:
    """The transport's `Limits` the flags ask for (ValueError for a combination it refuses)."""
    return Limits(
        max_concurrent_streams=args.max_concurrent_streams,
        max_connections=args.max_connections,
        max_connection_idle=args.max_connection_idle,
        min_ping_interval=args.grpc_keepalive_min_time,
        keepalive_interval=args.grpc_keepalive_interval,
        keepalive_timeout=args.grpc_keepalive_timeout,
        **dict(args.http2_limit),
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
    try:
        limits = limits_from_args(args)
    except ValueError as exc:
        print(f"kvs serve: {exc}", file=sys.stderr)
        return 2
    open_files = raise_open_files_limit()
    if open_files < limits.max_connections + 64:
        print(
            f"kvs serve: warning: {open_files} open files allowed, fewer than --max-connections "
            f"{limits.max_connections} needs; raise the hard limit (ulimit -Hn) to reach it",
            file=sys.stderr,
        )
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
        limits=limits,
        watch_cache=args.watch_cache,
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
    if server.limits_tripped:
        tripped = ", ".join(f"{name} {n}" for name, n in sorted(server.limits_tripped.items()))
        print(f"kvs serve: limits tripped by clients since start: {tripped}", file=sys.stderr, flush=True)
    await store.close()
    print("kvs serve: stopped; every acknowledged write is on disk", file=sys.stderr, flush=True)
    return 0
