"""`kvs bench [write|read|fanout|resources|informer|attack|all] [--quick] [--mode M] [--out DIR]`
(also `python -m kvs.bench`)."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import signal
import sys
import threading
import time
from typing import Protocol

from kvs.bench import (
    attack_bench,
    informer_bench,
    net_fanout,
    net_write,
    progress,
    resource_fanout,
    resource_list,
    resource_write,
    store_fanout,
    store_read,
    store_write,
)
from kvs.bench.common import MODES, Config, make_config
from kvs.bench.report import Figure, machine_info, render_header, render_results, to_json


class Scenario(Protocol):
    """A benchmark module: what it measures, and how many measured runs that takes."""

    def run(self, cfg: Config) -> tuple[list[Figure], list[str]]: ...

    def planned_runs(self, cfg: Config) -> int: ...


SUITES: dict[str, list[Scenario]] = {
    "write": [store_write, net_write],
    "read": [store_read],
    "fanout": [store_fanout, net_fanout],
    "resources": [resource_write, resource_list, resource_fanout],
    "informer": [informer_bench],
    "attack": [attack_bench],
}
# `all` is every suite but `attack`: that one measures how servers stand hostile clients, not
# their speed, and doubles the length of a --quick run; it runs by name.
ALL = [name for name in SUITES if name != "attack"]
_MODE_CHOICES = {"embedded": ("embedded",), "grpc": ("grpc",), "both": MODES}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvs bench",
        description="Benchmarks, each figure next to a reference measured in the same run (see kvs/bench/README.md).",
    )
    parser.add_argument(
        "suite",
        nargs="?",
        default="all",
        choices=["all", *SUITES],
        help="write (durable puts by writers and value size), read (range reads), fanout (watch deliveries and "
        "latency by watchers and event rate), resources (objects through the resource API), informer (list+sync, "
        "events through informers), attack (hostile HTTP/2 clients against kvs serve and etcd, under a probe) or all "
        "(default: every suite but attack)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of under a minute; figures are rough")
    parser.add_argument(
        "--mode",
        choices=list(_MODE_CHOICES),
        default="both",
        help="embedded (in-process store), grpc (kvs serve subprocess, next to etcd when it is on the PATH) or both",
    )
    parser.add_argument(
        "--repeat", type=int, metavar="N", help="repetitions per figure (default 5, gRPC 3; --quick: 2, gRPC 1)"
    )
    parser.add_argument(
        "--out", metavar="DIR", help="write results.json (every raw sample), report.md and PNG plots to DIR"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the raw samples to FILE")
    parser.add_argument("--dir", metavar="DIR", help="make the temporary stores under DIR (default: the system's)")
    parser.add_argument("--no-progress", action="store_true", help="log lines only, no progress bar")
    return parser


def _write_out(out: str, report: dict[str, object]) -> list[str]:
    """results.json, report.md and the plots in `out`; the names written."""
    from kvs.bench import markdown, plots

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    written = ["results.json"]
    try:
        images = plots.write_plots(report, out)
    except RuntimeError as exc:  # no matplotlib: the numbers are still worth having
        print(f"kvs bench: no plots: {exc}", file=sys.stderr)
        images = []
    written += images
    written.append(markdown.write_report(report, out, images))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    cfg = make_config(quick=args.quick, repeat=args.repeat, tmp_base=args.dir, modes=_MODE_CHOICES[args.mode])
    scenarios = [s for name in (ALL if args.suite == "all" else [args.suite]) for s in SUITES[name]]
    info = machine_info(cfg)
    print(render_header(info, cfg), flush=True)
    started = datetime.datetime.now(datetime.UTC)
    clock = time.monotonic()
    bar = progress.Progress(sum(s.planned_runs(cfg) for s in scenarios), live=False if args.no_progress else None)
    progress.use(bar)
    figures: list[Figure] = []
    notes: list[str] = []
    # SIGTERM unwinds like Ctrl-C, so the servers and workers the network scenarios started are stopped.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        for scenario in scenarios:
            figs, more = scenario.run(cfg)
            figures.extend(figs)
            notes.extend(more)
    except KeyboardInterrupt:
        return 130
    finally:
        bar.close()
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    print()
    print(render_results(figures, notes), flush=True)
    command = "kvs bench " + " ".join(sys.argv[1:] if argv is None else argv)
    report = to_json(
        info,
        cfg,
        figures,
        notes,
        command=command.strip(),
        started=started.isoformat(timespec="seconds"),
        seconds=round(time.monotonic() - clock, 1),
        runs={"planned": bar.total, "done": bar.done},
    )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1)
    if args.out:
        written = _write_out(args.out, report)
        print(f"wrote {', '.join(written)} to {args.out}", flush=True)
    return 1 if any(f.failures for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
