"""What importing a package loads, seen from a fresh interpreter (for the layer tests)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.servers import REPO_ROOT


def loaded_by(statement: str) -> set[str]:
    """The top-level names of every module in `sys.modules` after `statement` runs in a new
    interpreter (so nothing this test process imported counts)."""
    script = f"{statement}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))
