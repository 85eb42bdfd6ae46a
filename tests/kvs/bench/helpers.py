"""Running the benchmark suite from tests: its exit code, its stdout and its --json report."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvs.bench.__main__ import main


@dataclass(frozen=True)
class QuickRun:
    code: int
    out: str
    report: dict[str, Any]
    out_dir: Path  # what --out wrote


def run_bench(tmp: Path, *argv: str) -> QuickRun:
    """`python -m kvs.bench ARGV --out DIR --dir STORES` in-process, STORES checked empty afterwards."""
    stores = tmp / "stores"
    stores.mkdir()
    out_dir = tmp / "out"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main([*argv, "--no-progress", "--out", str(out_dir), "--dir", str(stores)])
    assert not list(stores.iterdir()), "every temporary store and data directory is removed"
    report = json.loads((out_dir / "results.json").read_text(encoding="utf-8"))
    return QuickRun(code, buf.getvalue(), report, out_dir)
