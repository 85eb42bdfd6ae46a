"""The `kvs` command's entry point: parse the subcommand, hand over to its module."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence

from kvs import run, serve
from kvstore.version import __version__


def _bench(rest: Sequence[str]) -> int:
    # Imported only for `kvs bench`: the suite loads plotting and every scenario.
    from kvs.bench.__main__ import main as bench_main

    return bench_main(list(rest))


def parser() -> argparse.ArgumentParser:
    """The command line of `kvs` and its subcommands."""
    top = argparse.ArgumentParser(prog="kvs", description="A Kubernetes-style control-plane kit.")
    sub = top.add_subparsers(dest="command", required=True)
    run.add_parser(sub)
    serve.add_parser(sub)
    sub.add_parser("bench", help="benchmarks (kvs bench --help)", add_help=False)
    top.add_argument("--version", action="version", version=f"kvs {__version__}")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run `kvs ARGV...` (default: the process's arguments); the exit status."""
    command = parser()
    args, rest = command.parse_known_args(argv)
    if args.command == "bench":
        return _bench(rest)
    if rest:
        command.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "serve":
        return serve.main(args)
    with contextlib.suppress(KeyboardInterrupt):
        return run.main(args)
    return 130


if __name__ == "__main__":
    sys.exit(main())
