"""`python -m bench [store|net|resources|informer|all] [--quick] [--repeat N] [--json FILE]` (also `kvs bench`)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable

from bench import (
    informer_bench,
    net_fanout,
    net_write,
    resource_fanout,
    resource_list,
    resource_write,
    store_fanout,
    store_read,
    store_write,
)
from bench.common import make_config
from bench.report import Figure, machine_info, render_header, render_results, to_json

Scenario = Callable[..., tuple[list[Figure], list[str]]]

SUITES: dict[str, list[Scenario]] = {
    "store": [store_write.run, store_read.run, store_fanout.run],
    "net": [net_write.run, net_fanout.run],
    "resources": [resource_write.run, resource_list.run, resource_fanout.run],
    "informer": [informer_bench.run],
}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvs bench",
        description="Benchmarks, each figure next to a reference measured in the same run (see bench/README.md).",
    )
    parser.add_argument(
        "suite",
        nargs="?",
        default="all",
        choices=["all", *SUITES],
        help="what to run: store (the embedded store), net (kvs serve over gRPC, next to etcd), resources (objects "
        "through the resource API, embedded and over gRPC), informer (informers on the embedded store) or all "
        "(default)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds; figures are rough")
    parser.add_argument(
        "--repeat", type=int, metavar="N", help="repetitions per figure (default 5; --quick: 2 for store, 1 for net)"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the raw samples to FILE")
    parser.add_argument("--dir", metavar="DIR", help="make the temporary stores under DIR (default: the system's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    cfg = make_config(quick=args.quick, repeat=args.repeat, tmp_base=args.dir)
    suites = list(SUITES) if args.suite == "all" else [args.suite]
    info = machine_info(cfg)
    print(render_header(info, cfg, suites), flush=True)
    figures: list[Figure] = []
    notes: list[str] = []
    # SIGTERM unwinds like Ctrl-C, so the servers and workers the net suite started are stopped.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        for suite in suites:
            for scenario in SUITES[suite]:
                figs, more = scenario(cfg)
                figures.extend(figs)
                notes.extend(more)
    except KeyboardInterrupt:
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    print()
    print(render_results(figures, notes), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(to_json(info, cfg, figures, notes), f, indent=1)
    return 1 if any(f.failures for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
