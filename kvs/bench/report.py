"""The machine header, the results table and the raw-samples JSON."""

from __future__ import annotations

import os
import platform
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any, NamedTuple

from kvs.bench.common import Config
from kvs.bench.stats import SPREAD_LIMIT, Summary, summarize
from kvstore.version import __version__ as kvstore_version


class Extra(NamedTuple):
    """A further reference shown under a figure: its label, samples and line in the plots."""

    label: str
    samples: list[float]
    series: str = ""


@dataclass
class Figure:
    """One row of the table: our samples, optionally a reference's and a target.

    `plot`, `panel`, `series` and `x` place the figure in the charts of `--out`: the chart,
    the sub-chart, the line and the x position (writers, watchers, objects, events/s).
    """

    scenario: str  # the module that measured it, e.g. "store_write"
    label: str  # e.g. "durable puts, 64 writers"
    unit: str
    samples: list[float]
    reference: list[float] | None = None
    reference_label: str = ""
    target: float | None = None  # met when the median is at least this
    failures: list[str] = field(default_factory=list)  # non-empty: the row is FAILED
    details: list[dict[str, Any]] = field(default_factory=list)  # one per repetition, for --json
    more: list[Extra] = field(default_factory=list)  # further references
    ratio_target: float | None = None  # met when ours/reference is at least this
    ratio_target_of: str = ""  # what the reference is, for the target column (e.g. "etcd")
    target_skipped: str = ""  # shown in the target column when the target could not be checked
    lower_is_better: bool = False  # latencies, CPU per unit of work
    plot: str = ""  # the chart (see kvs/bench/plots.py), "" for none
    panel: str = ""  # the sub-chart, e.g. "128-byte values"
    series: str = ""  # our line, e.g. "kvs embedded"
    x: float | None = None
    reference_series: str = ""  # the reference's line in the same chart

    @property
    def summary(self) -> Summary:
        return summarize(self.samples)

    @property
    def reference_summary(self) -> Summary | None:
        return summarize(self.reference) if self.reference else None

    @property
    def ratio(self) -> float | None:
        ref = self.reference_summary
        if ref is None or ref.median <= 0:
            return None
        return self.summary.median / ref.median

    @property
    def target_met(self) -> bool | None:
        """Met when every target set (absolute, ratio to the reference) is met; None without targets."""
        if self.target is None and self.ratio_target is None:
            return None
        if self.failures:
            return False
        if self.target is not None and not self._better(self.summary.median, self.target):
            return False
        if self.ratio_target is not None:
            ratio = self.ratio
            return ratio is not None and self._better(ratio, self.ratio_target)
        return True

    def _better(self, value: float, bound: float) -> bool:
        return value <= bound if self.lower_is_better else value >= bound

    def more_ratio(self, samples: list[float]) -> float | None:
        ref = summarize(samples) if samples else None
        if ref is None or ref.median <= 0:
            return None
        return self.summary.median / ref.median

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scenario": self.scenario,
            "label": self.label,
            "unit": self.unit,
            **_samples_json(self.samples),
            "failures": self.failures,
            "details": self.details,
            "lower_is_better": self.lower_is_better,
            "plot": self.plot,
            "panel": self.panel,
            "series": self.series,
            "x": self.x,
        }
        if self.reference:
            out["reference"] = {
                "label": self.reference_label,
                "series": self.reference_series,
                **_samples_json(self.reference),
            }
            out["ratio"] = self.ratio
        if self.more:
            out["more_references"] = [
                {"label": extra.label, "series": extra.series, **_samples_json(extra.samples)}
                | {"ratio": self.more_ratio(extra.samples)}
                for extra in self.more
                if extra.samples
            ]
        if self.target is not None:
            out["target"] = self.target
            out["target_met"] = self.target_met
        if self.ratio_target is not None:
            out["ratio_target"] = self.ratio_target
            out["ratio_target_of"] = self.ratio_target_of
            out["target_met"] = self.target_met
        if self.target is not None or self.ratio_target is not None:
            out["target_text"] = target_text(self)
        if self.target_skipped:
            out["target_skipped"] = self.target_skipped
        return out


def _samples_json(samples: list[float]) -> dict[str, Any]:
    """The samples with their median, min, max and whether they spread wide."""
    s = summarize(samples)
    return {"samples": samples, "median": s.median, "min": s.min, "max": s.max, "wide_spread": s.wide}


# ------------------------------------------------------------ the machine


def _filesystem(path: str) -> str:
    """The filesystem type `path` lives on, from /proc/mounts (Linux); "?" elsewhere."""
    try:
        with open("/proc/mounts", encoding="utf-8") as f:
            mounts = [line.split() for line in f]
    except OSError:
        return "?"
    real = os.path.realpath(path)
    best, fstype = "", "?"
    for fields in mounts:
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, fstype = point, fields[2]
    return fstype


def _cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def load_average() -> str:
    """The 1-minute load average: other work on the machine skews every figure."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def _etcd() -> str:
    from kvs.bench.servers import etcd_version, find_etcd

    path = find_etcd()
    return f"etcd {etcd_version(path)} on the PATH" if path else "no etcd on the PATH"


def machine_info(cfg: Config) -> dict[str, str]:
    import lmdb

    base = cfg.tmp_base or tempfile.gettempdir()
    return {
        "etcd": _etcd(),
        "cpus": str(os.cpu_count() or "?"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "lmdb": f"{_version('lmdb')} (LMDB {'.'.join(str(p) for p in lmdb.version())})",
        "msgpack": _version("msgpack"),
        "grpcio": _version("grpcio"),
        "protobuf": _version("protobuf"),
        "hpack": _version("hpack"),
        "kvstore-kit": kvstore_version,
        "cpu_model": _cpu_model(),
        "tmp_dir": base,
        "tmp_fs": _filesystem(base),
        "load_at_start": load_average(),
    }


def machine_lines(info: dict[str, str]) -> list[str]:
    return [
        f"machine: {info['cpus']} CPUs ({info['cpu_model']}), {info['machine']}, {info['platform']}; "
        f"load average {info['load_at_start']}",
        f"python {info['python']}, kvstore-kit {info['kvstore-kit']}, lmdb {info['lmdb']}, msgpack {info['msgpack']}, "
        f"grpcio {info['grpcio']}, protobuf {info['protobuf']}, hpack {info.get('hpack', '?')}",
        f"stores in fresh temporary directories under {info['tmp_dir']} ({info['tmp_fs']}); {info['etcd']}",
    ]


# ------------------------------------------------------------ the table


def fmt_num(x: float) -> str:
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


def fmt_ratio(r: float) -> str:
    if r >= 100:
        return f"{r:,.0f}x"
    if r >= 10:
        return f"{r:.1f}x"
    if r >= 0.1:
        return f"{r:.2f}x"
    return f"{r:.2g}x"


def _range(s: Summary) -> str:
    flag = " !" if s.wide else ""
    return f"{fmt_num(s.min)} .. {fmt_num(s.max)}{flag}"


_HEAD = ("scenario", "figure", "min .. max", "unit", "reference", "min .. max", "ours/ref", "target")
_RIGHT = {1, 4, 6}  # right-aligned columns


def target_text(fig: Figure) -> str:
    """The targets of a figure, e.g. ">= 1,000,000 and >= 0.067x deques"."""
    bound = "<=" if fig.lower_is_better else ">="
    parts = []
    if fig.target is not None:
        parts.append(f"{bound} {fmt_num(fig.target)}")
    if fig.ratio_target is not None:
        parts.append(f"{bound} {fmt_ratio(fig.ratio_target)} {fig.ratio_target_of}")
    return " and ".join(parts)


def _row(fig: Figure) -> tuple[str, ...]:
    s = fig.summary
    ref = fig.reference_summary
    ratio = fig.ratio
    target = fig.target_skipped
    if fig.target is not None or fig.ratio_target is not None:
        target = f"{target_text(fig)}: {'met' if fig.target_met else 'missed'}"
    return (
        fig.label,
        "FAILED" if fig.failures else fmt_num(s.median),
        _range(s),
        fig.unit,
        fmt_num(ref.median) if ref else "",
        _range(ref) if ref else "",
        fmt_ratio(ratio) if ratio is not None and not fig.failures else "",
        target,
    )


def _more_rows(fig: Figure) -> list[tuple[str, ...]]:
    """A row per further reference, under the figure: its label, its figures, ours/it."""
    rows: list[tuple[str, ...]] = []
    for label, samples, _ in fig.more:
        if not samples:
            continue
        ref = summarize(samples)
        ratio = fig.more_ratio(samples)
        ratio_text = fmt_ratio(ratio) if ratio is not None and not fig.failures else ""
        rows.append((f"  vs {label}", "", "", "", fmt_num(ref.median), _range(ref), ratio_text, ""))
    return rows


def render_table(figures: Sequence[Figure]) -> list[str]:
    rows: list[tuple[str, ...] | None] = []
    last = None
    for fig in figures:
        if last is not None and fig.scenario != last:
            rows.append(None)  # a blank line between scenarios
        rows.append(_row(fig))
        rows.extend(_more_rows(fig))
        last = fig.scenario
    cells = [_HEAD, *(r for r in rows if r is not None)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(_HEAD))]

    def line(r: tuple[str, ...]) -> str:
        parts = [c.rjust(w) if i in _RIGHT else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        return "  ".join(parts).rstrip()

    out = [line(_HEAD), "  ".join("-" * w for w in widths)]
    out.extend(line(r) if r is not None else "" for r in rows)
    return out


def render_header(info: dict[str, str], cfg: Config) -> str:
    mode = "quick smoke run" if cfg.quick else "full run"
    reps = f"{cfg.repeat} repetition{'' if cfg.repeat == 1 else 's'}"
    if cfg.net_repeat != cfg.repeat:
        reps += f" ({cfg.net_repeat} where every run starts servers)"
    return "\n".join(
        [
            f"kvstore benchmarks ({mode}; modes: {', '.join(cfg.modes)})",
            *machine_lines(info),
            f"each figure: median of {reps} after 1 warm-up, with min .. max; '!' marks a spread max/min > "
            f"{SPREAD_LIMIT}",
        ]
    )


def render_results(figures: Sequence[Figure], notes: Sequence[str]) -> str:
    lines = [*render_table(figures), "", *notes]
    failed = [f for f in figures if f.failures]
    for fig in failed:
        lines.extend(f"FAILED {fig.label}: {problem}" for problem in fig.failures)
    lines.append(f"load average at the end: {load_average()}")
    lines.append("result: FAILED" if failed else "result: ok")
    return "\n".join(lines)


def to_json(
    info: dict[str, str], cfg: Config, figures: Sequence[Figure], notes: Sequence[str], **run: Any
) -> dict[str, Any]:
    """Everything a run measured; `run` adds facts about the invocation (command, start time, duration)."""
    return {
        **run,
        "machine": info,
        "config": asdict(cfg),
        "figures": [f.to_json() for f in figures],
        "notes": list(notes),
        "failed": any(f.failures for f in figures),
    }
