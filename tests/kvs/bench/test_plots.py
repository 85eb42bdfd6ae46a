"""bench.plots and bench.markdown: the charted points, the PNGs and report.md of `--out DIR`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from kvs.bench.common import make_config
from kvs.bench.markdown import render_report, write_report
from kvs.bench.plots import Point, collect_points, main, reference_series, series_colours, write_plots
from kvs.bench.report import Extra, Figure, to_json

PNG_MAGIC = b"\x89PNG"
BARE = "bare lmdb, one fsync per put"
ETCD = "etcd 3.4.30"
SMALL, BIG = "128-byte values", "16384-byte values"


def _write(label: str, panel: str, x: float, ours: list[float], ref: list[float], **kw: Any) -> Figure:
    return Figure(
        scenario="store_write",
        label=label,
        unit="puts/s",
        samples=ours,
        reference=ref,
        reference_label="bare lmdb",
        plot="write",
        panel=panel,
        series="kvs embedded",
        x=x,
        reference_series=BARE,
        **kw,
    )


def _figures() -> list[Figure]:
    return [
        _write("durable puts, 8 writers, 128 B", SMALL, 8, [4000.0, 4400.0, 4800.0], [300.0, 330.0, 360.0]),
        _write(
            "durable puts, 1 writer, 128 B",
            SMALL,
            1,
            [1000.0, 1100.0, 1200.0],
            [100.0, 110.0, 120.0],
            more=[Extra(ETCD, [500.0, 520.0, 540.0], ETCD)],
            ratio_target=2.0,
            ratio_target_of="bare lmdb",
        ),
        _write("durable puts, 1 writer, 16 KiB", BIG, 1, [50.0, 60.0, 70.0], [40.0, 45.0, 50.0], target=1e9),
        Figure(  # its etcd point duplicates the one above: the first is kept
            scenario="net_write",
            label="gRPC puts, 1 writer, 128 B",
            unit="puts/s",
            samples=[700.0, 800.0, 900.0],
            reference=[9.0, 9.0, 9.0],
            reference_label=ETCD,
            plot="write",
            panel=SMALL,
            series="kvs gRPC",
            x=1,
            reference_series=ETCD,
        ),
        Figure(
            scenario="store_fanout",
            label="deliveries, 10 watchers",
            unit="deliveries/s",
            samples=[1e6, 2e6, 3e6],
            reference=[4e6, 5e6, 6e6],
            reference_label="append to deques",
            plot="fanout",
            panel="in-process",
            series="kvs embedded",
            x=10,
            reference_series="append to deques",
        ),
        Figure(  # failed: our point is skipped, the reference's kept
            scenario="store_fanout",
            label="deliveries, 100 watchers",
            unit="deliveries/s",
            samples=[1.0],
            reference=[50.0, 60.0, 70.0],
            reference_label="append to deques",
            failures=["timed out"],
            plot="fanout",
            panel="in-process",
            series="kvs embedded",
            x=100,
            reference_series="append to deques",
        ),
        Figure(  # failed with no reference: the chart has no points, so no PNG
            scenario="store_fanout",
            label="CPU per million deliveries",
            unit="s",
            samples=[3.0],
            failures=["no deliveries"],
            plot="fanout_cpu",
            series="kvs embedded",
            x=10,
            lower_is_better=True,
        ),
        Figure(scenario="resource_write", label="creates", unit="objects/s", samples=[10.0], plot="resource_write"),
        Figure(scenario="store_read", label="reads | one key", unit="reads/s", samples=[5.0, 6.0, 7.0]),
    ]


def _report(**extra: Any) -> dict[str, Any]:
    machine = {"cpus": "4", "machine": "x86_64", "platform": "Linux-test", "etcd": "no etcd on the PATH"}
    cfg = make_config(quick=True, repeat=None, tmp_base=None)
    return {**to_json(machine, cfg, _figures(), ["a note on the run"]), **extra}


def test_collect_points_by_plot_panel_and_series() -> None:
    points = collect_points(_report())
    assert points == {
        "write": {
            SMALL: {
                "kvs embedded": [Point(1, 1100, 1000, 1200), Point(8, 4400, 4000, 4800)],
                BARE: [Point(1, 110, 100, 120), Point(8, 330, 300, 360)],
                ETCD: [Point(1, 520, 500, 540)],
                "kvs gRPC": [Point(1, 800, 700, 900)],
            },
            BIG: {"kvs embedded": [Point(1, 60, 50, 70)], BARE: [Point(1, 45, 40, 50)]},
        },
        "fanout": {
            "in-process": {
                "kvs embedded": [Point(10, 2e6, 1e6, 3e6)],
                "append to deques": [Point(10, 5e6, 4e6, 6e6), Point(100, 60, 50, 70)],
            }
        },
    }
    assert list(points["write"]) == [SMALL, BIG], "panels in first-seen order"


def test_references_are_dashed_and_colours_stable() -> None:
    report = _report()
    assert reference_series(report) == {BARE, ETCD, "append to deques"}
    colours = series_colours(report)
    assert colours["kvs embedded"] == "tab:blue"
    assert colours["kvs gRPC"] == "tab:orange"
    assert colours[ETCD] == "tab:green"
    assert colours[BARE] == "dimgray"


def test_watch_cache_off_lines_have_colours_of_their_own() -> None:
    """A line measured with the watch cache off is told apart from the same line with it on."""
    figures = [
        Figure(
            "resource_fanout",
            f"object fan-out, 10 watchers, embedded{suffix}",
            "deliveries/s",
            [1.0],
            reference=[2.0],
            plot="resource_fanout",
            series=f"kvs embedded, objects{suffix}",
            x=10,
            reference_series="raw store watches (embedded)",
        )
        for suffix in ("", ", watch cache off")
    ]
    report = to_json({}, make_config(quick=True, repeat=None, tmp_base=None), figures, [])
    colours = series_colours(report)
    assert colours["kvs embedded, objects"] == "tab:blue"
    assert colours["kvs embedded, objects, watch cache off"] == "tab:cyan"
    assert colours["raw store watches (embedded)"] not in {"tab:blue", "tab:cyan"}
    assert reference_series(report) == {"raw store watches (embedded)"}


def test_write_plots_one_png_per_charted_plot(tmp_path: Path) -> None:
    names = write_plots(_report(), str(tmp_path / "out"))
    assert names == ["write.png", "fanout.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fanout.png", "write.png"]
    for name in names:
        assert (tmp_path / "out" / name).read_bytes().startswith(PNG_MAGIC)


def test_write_plots_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(RuntimeError, match=r"kvstore-kit\[bench\]"):
        write_plots(_report(), str(tmp_path))


def test_markdown_report() -> None:
    report = _report(command="kvs bench --quick --out results", started="2025-01-02T03:04:05", seconds=12.3)
    text = render_report(report, ["write.png", "fanout.png"])
    for fig in report["figures"]:
        assert fig["label"].replace("|", "\\|") in text
    assert "reads \\| one key" in text
    assert "`kvs bench --quick --out results`" in text and "2025-01-02T03:04:05" in text
    assert "### store_write" in text and "### net_write" in text
    assert "| deliveries, 100 watchers | FAILED |" in text
    assert "10.0x" in text, "ours/ref of 1100 vs 110"
    assert f"↳ vs {ETCD}" in text and "2.12x" in text, "the further reference's row and ratio"
    assert "median of 2 (network figures: 1) repetitions" in text
    targets = text.split("## Targets")[1].split("##")[0]
    assert ">= 2.00x bare lmdb: met" in targets
    assert ">= 1,000,000,000: missed" in targets
    assert "- **deliveries, 100 watchers**: timed out" in text
    assert "- a note on the run" in text
    assert "**Result: FAILED**" in text
    assert "![write](write.png)" in text and "![fanout](fanout.png)" in text


def test_cli_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results.json"
    results.write_text(json.dumps(_report()), encoding="utf-8")
    out = tmp_path / "out"
    assert main([str(results), str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["fanout.png", "report.md", "write.png"]
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "![write](write.png)" in text and "![fanout](fanout.png)" in text
    assert "report.md" in capsys.readouterr().out
    assert write_report(_report(), str(out), []) == "report.md"
    assert "## Charts" not in (out / "report.md").read_text(encoding="utf-8")
