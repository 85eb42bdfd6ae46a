"""Running the benchmark suite from tests: its exit code, its stdout and its --json report."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.__main__ import main


@dataclass(frozen=True)
class QuickRun:
    code: int
    out: str
    report: dict[str, Any]


def run_bench(tmp: Path, *argv: str) -> QuickRun:
    """`python -m bench ARGV --json FILE --dir DIR` in-process, DIR checked empty afterwards."""
    stores = tmp / "stores"
    stores.mkdir()
    out_file = tmp / "samples.json"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main([*argv, "--json", str(out_file), "--dir", str(stores)])
    assert not list(stores.iterdir()), "every temporary store and data directory is removed"
    return QuickRun(code, buf.getvalue(), json.loads(out_file.read_text(encoding="utf-8")))
