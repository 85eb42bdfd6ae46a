"""bench.progress: the bar counts measured runs; off a terminal it prefixes log lines instead of redrawing."""

from __future__ import annotations

import io

from kvs.bench import progress
from kvs.bench.common import interleaved, make_config, planned


def test_off_a_terminal_each_log_line_carries_the_count() -> None:
    out = io.StringIO()
    bar = progress.Progress(3, out, live=False)
    bar.log("first")
    bar.advance()
    bar.log("second")
    bar.close()
    assert out.getvalue().splitlines() == ["[0/3] first", "[1/3] second"]
    assert "\r" not in out.getvalue()


def test_on_a_terminal_the_bar_is_redrawn_under_the_log_lines() -> None:
    out = io.StringIO()
    bar = progress.Progress(4, out, live=True)
    bar.log("step")
    bar.advance(2)
    text = out.getvalue()
    assert text.startswith("step\n")
    assert "\r\x1b[K[############............] 2/4" in text
    assert "left" in text  # an estimate once something is done and something is left
    bar.close()  # the bar is cleared and printed once more as a plain line
    last = out.getvalue().rsplit("\r\x1b[K", 1)[-1]
    assert last.startswith("[############............] 2/4") and last.endswith("\n")


def test_interleaved_advances_once_per_run_as_planned() -> None:
    cfg = make_config(quick=True, repeat=3, tmp_base=None)
    bar = progress.Progress(planned(2, cfg.repeat), io.StringIO(), live=False)
    progress.use(bar)
    try:
        calls: list[str] = []
        measured = interleaved(cfg, [lambda: calls.append("a") or 1, lambda: calls.append("b") or 2])
    finally:
        progress.use(progress.Progress(0, live=False))
    assert calls == ["a", "b"] * 4  # warm-ups, then the repetitions in turn
    assert [m.samples for m in measured] == [[1, 1, 1], [2, 2, 2]]
    assert bar.done == bar.total == 8
