"""PNG charts of a benchmark report (`--out DIR`), one per `plot` name;
`python -m kvs.bench.plots RESULTS.json OUT_DIR` redraws them from a saved run."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from kvs.bench.common import WATCH_CACHE_OFF

if TYPE_CHECKING:
    from matplotlib.axes import Axes


class Point(NamedTuple):
    """One marker of a line: the median at x, with min .. max as the error bar."""

    x: float
    median: float
    min: float
    max: float


# plot name -> panel -> series -> points sorted by x
Points = dict[str, dict[str, dict[str, list[Point]]]]


@dataclass(frozen=True)
class ChartSpec:
    title: str
    x_label: str
    y_label: str
    log_x: bool = True
    log_y: bool = True
    x_base: int = 10


CHARTS: dict[str, ChartSpec] = {
    "write": ChartSpec("Durable writes by concurrency", "concurrent writers", "puts/s", x_base=2),
    "fanout": ChartSpec("Watch fan-out throughput", "watchers", "deliveries/s"),
    "fanout_latency": ChartSpec("Put -> delivery latency by watchers", "watchers", "put -> delivery latency (ms)"),
    "fanout_rate": ChartSpec("Put -> delivery latency by write rate", "events/s written", "latency (ms)"),
    "fanout_cpu": ChartSpec("CPU per delivery", "watchers", "CPU seconds per million deliveries"),
    "informer_sync": ChartSpec("Informer initial sync", "objects", "seconds to sync"),
    "informer_events": ChartSpec("Informer event throughput", "informers", "handler calls/s"),
    "resource_fanout": ChartSpec("Resource watch fan-out", "watchers", "deliveries/s"),
    "resource_write": ChartSpec("Resource writes", "clients", "objects/s"),
}

# series-name prefix -> colour, so a line looks the same in every chart (longest prefix wins)
COLOURS: dict[str, str] = {
    "kvs embedded": "tab:blue",
    "kvs gRPC": "tab:orange",
    "etcd": "tab:green",
    "bare lmdb": "dimgray",
    "bare": "gray",
    "append to deques": "darkgray",
}
# ... and for the same lines measured with the watch cache off ("kvs embedded, objects, watch cache off")
OFF_COLOURS: dict[str, str] = {"kvs embedded": "tab:cyan", "kvs gRPC": "tab:brown"}
_FALLBACK = ("tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")
_PANEL_INCHES = (6.0, 4.0)
_MAX_COLUMNS = 3


def _series_points(fig: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(series, summary) of every line a figure contributes: ours unless failed, then its references."""
    out: list[tuple[str, dict[str, Any]]] = []
    if fig.get("series") and not fig.get("failures"):
        out.append((fig["series"], fig))
    ref = fig.get("reference")
    if ref and ref.get("series"):
        out.append((ref["series"], ref))
    out.extend((extra["series"], extra) for extra in fig.get("more_references", []) if extra.get("series"))
    return out


def collect_points(report: dict[str, Any]) -> Points:
    """The charted points by plot, panel and series; the first of duplicate (panel, series, x) wins."""
    points: Points = {}
    for fig in report.get("figures", []):
        plot, x = fig.get("plot", ""), fig.get("x")
        if not plot or x is None:
            continue
        for series, s in _series_points(fig):
            line = points.setdefault(plot, {}).setdefault(fig.get("panel", ""), {}).setdefault(series, [])
            if all(p.x != x for p in line):
                line.append(Point(float(x), s["median"], s["min"], s["max"]))
    for panels in points.values():
        for lines in panels.values():
            for line in lines.values():
                line.sort(key=lambda p: p.x)
    return points


def reference_series(report: dict[str, Any]) -> set[str]:
    """Series that appear only as references (drawn dashed), never as our own line."""
    ours = {f["series"] for f in report.get("figures", []) if f.get("series")}
    refs = {s for f in report.get("figures", []) for s, _ in _series_points(f)}
    return refs - ours


def series_colours(report: dict[str, Any]) -> dict[str, str]:
    """A colour per series, by name prefix, else the next unused one in first-seen order."""
    colours: dict[str, str] = {}
    spare = [c for c in _FALLBACK if c not in COLOURS.values() and c not in OFF_COLOURS.values()]
    for fig in report.get("figures", []):
        names = [fig["series"]] if fig.get("series") else []
        names += [s for s, _ in _series_points(fig)]
        for name in names:
            if name in colours:
                continue
            known = OFF_COLOURS if name.endswith(f", {WATCH_CACHE_OFF}") else COLOURS
            prefix = next((p for p in sorted(known, key=len, reverse=True) if name.startswith(p)), None)
            colours[name] = known[prefix] if prefix else spare[len(colours) % len(spare)]
    return colours


def chart_spec(report: dict[str, Any], plot: str) -> ChartSpec:
    """The known chart's spec, else one titled by the plot name with the figures' unit on y."""
    if plot in CHARTS:
        return CHARTS[plot]
    unit = next((f["unit"] for f in report.get("figures", []) if f.get("plot") == plot), "")
    return ChartSpec(plot, "x", unit, log_x=False, log_y=False)


def _targets(report: dict[str, Any], plot: str) -> dict[str, list[tuple[float, float]]]:
    """(x, target) per panel of the figures with an absolute target, marked on the chart."""
    out: dict[str, list[tuple[float, float]]] = {}
    for fig in report.get("figures", []):
        if fig.get("plot") == plot and fig.get("x") is not None and fig.get("target") is not None:
            out.setdefault(fig.get("panel", ""), []).append((float(fig["x"]), float(fig["target"])))
    return out


def _tick(x: float) -> str:
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if x >= size and (x / size).is_integer():
            return f"{x / size:g}{suffix}"
    return f"{x:g}"


@dataclass(frozen=True)
class _Style:
    colours: dict[str, str]
    dashed: set[str]  # the reference lines
    targets: dict[str, list[tuple[float, float]]]  # panel -> (x, target) markers


def _draw_panel(ax: Axes, spec: ChartSpec, panel: str, lines: dict[str, list[Point]], style: _Style) -> None:
    for series, pts in lines.items():
        ax.errorbar(
            [p.x for p in pts],
            [p.median for p in pts],
            yerr=[[max(p.median - p.min, 0.0) for p in pts], [max(p.max - p.median, 0.0) for p in pts]],
            label=series,
            color=style.colours.get(series),
            linestyle="--" if series in style.dashed else "-",
            marker="o",
            markersize=4,
            capsize=3,
        )
    targets = style.targets.get(panel, [])
    if targets:
        ax.plot(*zip(*targets, strict=True), linestyle="none", marker="_", markersize=16, color="black", label="target")
    if spec.log_x:
        ax.set_xscale("log", base=spec.x_base)
        xs = sorted({p.x for pts in lines.values() for p in pts})
        ax.set_xticks(xs, [_tick(x) for x in xs])
        ax.minorticks_off()
    if spec.log_y:
        ax.set_yscale("log")
    ax.set_title(panel or spec.title)
    ax.set_xlabel(spec.x_label)
    ax.set_ylabel(spec.y_label)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")


def write_plots(report: dict[str, Any], out_dir: str) -> list[str]:
    """Draw one PNG per plot name into out_dir; return the file names written."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise RuntimeError("the plots need matplotlib: pip install 'kvstore-kit[bench]'") from e
    os.makedirs(out_dir, exist_ok=True)
    written: list[str] = []
    for plot, panels in collect_points(report).items():
        spec = chart_spec(report, plot)
        style = _Style(series_colours(report), reference_series(report), _targets(report, plot))
        cols = min(len(panels), _MAX_COLUMNS)
        rows = math.ceil(len(panels) / cols)
        fig = Figure(figsize=(_PANEL_INCHES[0] * cols, _PANEL_INCHES[1] * rows), dpi=110)
        FigureCanvasAgg(fig)
        axes = list(fig.subplots(rows, cols, squeeze=False).flat)
        for ax, (panel, lines) in zip(axes, panels.items(), strict=False):
            _draw_panel(ax, spec, panel, lines, style)
        for ax in axes[len(panels) :]:  # the grid's unused cells
            ax.set_visible(False)
        if any(panels):  # named panels: the chart's title above them
            fig.suptitle(spec.title)
        fig.tight_layout()
        name = f"{plot}.png"
        fig.savefig(os.path.join(out_dir, name))
        written.append(name)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Re-draw the PNGs and report.md of a saved `--json` report."""
    parser = argparse.ArgumentParser(prog="python -m kvs.bench.plots", description=main.__doc__)
    parser.add_argument("results", help="the JSON file written by `kvs bench --json`")
    parser.add_argument("out_dir", help="where to write the PNGs and report.md")
    args = parser.parse_args(argv)
    from kvs.bench.markdown import write_report

    with open(args.results, encoding="utf-8") as f:
        report = json.load(f)
    images = write_plots(report, args.out_dir)
    name = write_report(report, args.out_dir, images)
    for written in [*images, name]:
        print(os.path.join(args.out_dir, written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
