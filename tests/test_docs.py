"""Every Python example in the README and docs/ runs as written, pasted into a file.

Each ```python block is run as its own program in a fresh directory (so `kvstore.open("data")`
makes a new store there) and must exit 0. A block that connects to `127.0.0.1:2379` gets
what its text assumes: `kvs serve` listening there, as the README's shell lines start it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import REPO_ROOT, KvsServer

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")), REPO_ROOT / "kvs/bench/README.md"]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
SERVE_PORT = 2379
RUN_TIMEOUT = 120.0


def _examples() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for n, m in enumerate(_BLOCK.finditer(text), 1):
            line = text.count("\n", 0, m.start()) + 1
            found.append((f"{doc.relative_to(REPO_ROOT)}:{line} (block {n})", m.group(1)))
    return found


EXAMPLES = _examples()


def test_the_docs_have_examples() -> None:
    """The collector finds the README's blocks (a broken pattern would make the test below vacuous)."""
    assert sum(1 for where, _ in EXAMPLES if where.startswith("README.md")) >= 4


@pytest.mark.parametrize(("where", "code"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_example_runs_as_written(where: str, code: str, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    server = None
    if f"127.0.0.1:{SERVE_PORT}" in code:
        server = KvsServer(tmp_path / "served")
        server.port = SERVE_PORT  # the address the example connects to
        server.start()
    try:
        run = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    finally:
        if server is not None:
            server.close()
    assert run.returncode == 0, f"{where} failed:\n{run.stdout}\n{run.stderr}"
