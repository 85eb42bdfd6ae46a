"""The `kvs` command."""

from __future__ import annotations

import subprocess
import sys


def test_kvs_run_tours_the_store() -> None:
    """`kvs run` (the README's main job) runs the store demo to the end and exits 0."""
    out = subprocess.run([sys.executable, "-m", "kvs", "run"], capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert "lease  expired; /demo/session deleted" in out.stdout
    assert "now fails: etcdserver: mvcc: required revision has been compacted" in out.stdout
    assert "the watcher saw 6 events, revisions [2, 3, 4, 5, 6, 7]" in out.stdout


def test_kvs_rejects_unknown_commands() -> None:
    """A typo gets a usage message and exit code 2, not a traceback."""
    out = subprocess.run([sys.executable, "-m", "kvs", "runn"], capture_output=True, text=True, check=False)
    assert out.returncode == 2 and "invalid choice" in out.stderr
