"""report.md of a benchmark run (`--out DIR`): machine, method, results per scenario, targets, notes, charts."""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import Any

from kvs.bench.report import fmt_num, fmt_ratio
from kvs.bench.stats import SPREAD_LIMIT

_HEAD = ("figure", "ours (median)", "min .. max", "unit", "reference", "ref median", "min .. max", "ours/ref", "target")
_RIGHT = {1, 2, 5, 6, 7}  # right-aligned columns


def _cell(text: str) -> str:
    return text.replace("\n", " ").replace("|", "\\|")


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]], right: Collection[int] = ()) -> list[str]:
    align = tuple("---:" if i in right else "---" for i in range(len(head)))
    return ["| " + " | ".join(_cell(c) for c in r) + " |" for r in (head, align, *rows)]


def _range(s: dict[str, Any]) -> str:
    return f"{fmt_num(s['min'])} .. {fmt_num(s['max'])}{' !' if s.get('wide_spread') else ''}"


def target_text(fig: dict[str, Any]) -> str:
    """The target column: the bounds as the table printed them and met / missed, or why it was not checked."""
    if fig.get("target_text"):
        return f"{fig['target_text']}: {'met' if fig.get('target_met') else 'missed'}"
    return str(fig.get("target_skipped", ""))


def _ratio(fig: dict[str, Any], ratio: float | None) -> str:
    return fmt_ratio(ratio) if ratio is not None and not fig.get("failures") else ""


def _rows(fig: dict[str, Any]) -> list[tuple[str, ...]]:
    """The figure's row, then one per further reference."""
    ref = fig.get("reference")
    ours = "FAILED" if fig.get("failures") else fmt_num(fig["median"])
    rows: list[tuple[str, ...]] = [
        (
            fig["label"],
            ours,
            _range(fig),
            fig["unit"],
            ref["label"] if ref else "",
            fmt_num(ref["median"]) if ref else "",
            _range(ref) if ref else "",
            _ratio(fig, fig.get("ratio")),
            target_text(fig),
        )
    ]
    for extra in fig.get("more_references", []):
        ratio = _ratio(fig, extra.get("ratio"))
        rows.append((f"↳ vs {extra['label']}", "", "", "", "", fmt_num(extra["median"]), _range(extra), ratio, ""))
    return rows


def _results(figures: list[dict[str, Any]]) -> list[str]:
    """One table per scenario, in order of first appearance."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for fig in figures:
        groups.setdefault(fig["scenario"], []).append(fig)
    lines: list[str] = []
    for scenario, figs in groups.items():
        rows = [row for fig in figs for row in _rows(fig)]
        lines += [f"### {scenario}", "", *_table(_HEAD, rows, _RIGHT), ""]
    return lines


def _method(config: dict[str, Any]) -> str:
    repeat, net = config.get("repeat"), config.get("net_repeat")
    times = f"{repeat}" if net in (None, repeat) else f"{repeat} (network figures: {net})"
    return (
        f"Each figure is the median of {times} repetitions after one warm-up, with min .. max; "
        f"`!` marks a spread max/min > {SPREAD_LIMIT}. Ratios are ours/reference, measured in the same run."
    )


def _targets(figures: list[dict[str, Any]]) -> list[str]:
    lines = []
    for fig in figures:
        text = target_text(fig)
        if text:
            ours = "FAILED" if fig.get("failures") else f"{fmt_num(fig['median'])} {fig['unit']}"
            ratio = f", {fmt_ratio(fig['ratio'])} of {fig['reference']['label']}" if fig.get("ratio") else ""
            lines.append(f"- {fig['label']}: {ours}{ratio}; target {text}")
    return ["## Targets", "", *lines, ""] if lines else []


def render_report(report: dict[str, Any], images: list[str]) -> str:
    """The Markdown report of a `to_json` dict, linking the chart files in `images`."""
    config, figures = report.get("config", {}), report.get("figures", [])
    mode = "quick smoke run" if config.get("quick") else "full run"
    lines = [f"# kvstore benchmarks ({mode})", ""]
    if report.get("command"):
        lines += [f"Command: `{report['command']}`", ""]
    when = [f"started {report['started']}"] if report.get("started") else []
    when += [f"took {report['seconds']:.0f} s"] if report.get("seconds") is not None else []
    lines += [f"Run {', '.join(when)}.", ""] if when else []
    lines += ["## Machine", "", *_table(("", "value"), [(k, str(v)) for k, v in report.get("machine", {}).items()]), ""]
    lines += ["## Results", "", _method(config), "", *_results(figures)]
    lines += _targets(figures)
    if report.get("notes"):
        lines += ["## Notes", "", *(f"- {note}" for note in report["notes"]), ""]
    failed = [(f["label"], problem) for f in figures for problem in f.get("failures", [])]
    if failed:
        lines += ["## Failures", "", *(f"- **{label}**: {problem}" for label, problem in failed), ""]
    lines += [f"**Result: {'FAILED' if report.get('failed') or failed else 'ok'}**", ""]
    if images:
        lines += ["## Charts", ""]
        lines += [f"![{os.path.splitext(name)[0]}]({name})\n" for name in images]
    return "\n".join(lines).rstrip() + "\n"


def write_report(report: dict[str, Any], out_dir: str, images: list[str]) -> str:
    """Write report.md into out_dir; return its file name."""
    name = "report.md"
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
        f.write(render_report(report, images))
    return name
