"""The network watch fan-out: `kvs serve` and etcd (if on the PATH) in subprocesses, lean receivers.

The quick run of every suite (the `quick_run` fixture) covers it with whatever is on the
PATH; `python -m kvs.bench fanout --mode grpc --quick` runs again here with etcd hidden.
Asserts counts, chart placement and exit codes, never timings.
"""

from __future__ import annotations

import dataclasses
import io
import re
from typing import Any

import pytest

from kvs.bench import net_fanout, progress
from kvs.bench.common import make_config, planned
from kvs.bench.servers import etcd_version, find_etcd
from tests.kvs.bench.helpers import QuickRun, run_bench

QUICK = make_config(quick=True, repeat=None, tmp_base=None)
TARGETS = ("kvs serve", "bare push")
NET_SCENARIOS = {"net_fanout", "net_fanout_cpu", "net_fanout_latency", "net_fanout_rate"}


@pytest.fixture(scope="module")
def without_etcd(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    tmp = tmp_path_factory.mktemp("net-no-etcd")
    empty = tmp / "empty-path"
    empty.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", str(empty))  # no etcd to find
        assert find_etcd() is None
        return run_bench(tmp, "fanout", "--quick", "--mode", "grpc")


def _streams(n: int) -> str:
    return f"{n} stream{'' if n == 1 else 's'}"


def _counts(out: str, what: str, target: str, n: int, events: int) -> list[int]:
    """The deliveries counted per run (warm-up first) of `what` against `target`."""
    pattern = (
        rf"{re.escape(what)}, {re.escape(target)}: deliveries counted per run \(warm-up first\) \[([\d, ]+)\] "
        rf"\(expected {_streams(n)} x (\d+) events = (\d+)\): OK"
    )
    m = re.search(pattern, out)
    assert m, f"no OK line for {what} against {target}:\n{out}"
    assert int(m[2]) == events
    assert int(m[3]) == n * events
    return [int(c) for c in m[1].split(", ")]


def _net_figures(run: QuickRun) -> list[dict[str, Any]]:
    return [f for f in run.report["figures"] if f["scenario"] in NET_SCENARIOS]


def _check_run(run: QuickRun, targets: tuple[str, ...], etcd_name: str) -> None:
    assert run.code == 0, run.out
    assert "result: ok" in run.out
    assert "FAILED" not in run.out
    runs = 1 + QUICK.net_repeat
    for n in QUICK.net_watchers:
        events = QUICK.events_for(n, net=True)
        assert f"net fan-out, {_streams(n)}, gRPC (vs" in run.out
        assert f"net fan-out, {_streams(n)}, gRPC, server CPU" in run.out
        for q in ("p50", "p99", "p999"):
            assert f"net fan-out {_streams(n)}, gRPC, put -> delivery {q}" in run.out
        for target in targets:
            assert _counts(run.out, f"net fan-out, {_streams(n)}", target, n, events) == [n * events] * runs
    m = QUICK.fanout_rate_watchers
    for rate in QUICK.fanout_rates:
        events = round(rate * QUICK.fanout_rate_seconds)
        what = f"net fan-out {_streams(m)} at {rate:,} events/s"
        for q in ("p50", "p99", "p999"):
            assert f"{what}, gRPC, put -> delivery {q}" in run.out
        for target in (t for t in targets if t != "bare push"):
            assert _counts(run.out, what, target, m, events) == [m * events] * runs
    figures = _net_figures(run)
    assert {f["scenario"] for f in figures} == NET_SCENARIOS
    labels = [f["label"] for f in run.report["figures"]]
    assert len(labels) == len(set(labels)), "labels are unique across the report"
    for fig in figures:
        assert fig["failures"] == []
        assert len(fig["samples"]) == QUICK.net_repeat
        assert fig["lower_is_better"] == (fig["unit"] != "deliveries/s")
    fanout = [f for f in figures if f["scenario"] == "net_fanout"]
    assert [f["x"] for f in fanout] == list(QUICK.net_watchers)
    for fig in fanout:
        assert (fig["plot"], fig["panel"], fig["series"]) == ("fanout", "network", "kvs gRPC")
        assert fig["reference"]["series"] == (etcd_name or "bare push")
        seen = set()
        for rep in fig["details"]:
            seen.add(rep["target"].split()[0])
            assert rep["deliveries"] == rep["streams"] * rep["events"]
            assert rep["events"] == QUICK.events_for(rep["streams"], net=True)
            assert rep["problems"] == []
            assert rep["connections"] >= rep["streams"]  # a TCP connection per stream, at least (up to 1000)
            if rep["target"] != "bare push":
                assert {"p50_ms", "p99_ms", "p999_ms"} <= set(rep)
        assert seen == {t.split()[0] for t in targets}
    latency = [f for f in figures if f["scenario"] == "net_fanout_latency"]
    assert {(f["plot"], f["panel"], f["x"]) for f in latency} == {
        ("fanout_latency", q, n) for q in ("p50", "p99", "p999") for n in QUICK.net_watchers
    }
    cpu = [f for f in figures if f["scenario"] == "net_fanout_cpu"]
    assert {(f["plot"], f["series"]) for f in cpu} == {("fanout_cpu", "kvs gRPC (server)")}
    assert all(extra["series"] == "bare push (server)" for f in cpu for extra in f["more_references"])
    paced = [f for f in figures if f["scenario"] == "net_fanout_rate" and f["plot"]]
    assert {(f["plot"], f["panel"], f["x"]) for f in paced} == {
        ("fanout_rate", q, rate) for q in ("p50", "p99", "p999") for rate in QUICK.fanout_rates
    }
    for fig in paced:
        assert fig["series"] == "kvs gRPC"
        assert fig.get("reference", {}).get("series", "") == etcd_name


def test_net_fanout_in_the_full_quick_run(quick_run: QuickRun) -> None:
    etcd = find_etcd()
    name = f"etcd {etcd_version(etcd)}" if etcd else ""
    _check_run(quick_run, (*TARGETS, name) if etcd else TARGETS, name)


@pytest.mark.skipif(find_etcd() is None, reason="no etcd on the PATH")
def test_net_fanout_compares_with_etcd(quick_run: QuickRun) -> None:
    out = quick_run.out
    assert "net fan-out: the etcd comparison was skipped" not in out
    for n in QUICK.net_watchers:
        assert re.search(rf"net fan-out, {_streams(n)}: ours/etcd \d+\.\d+x deliveries/s, \d+\.\d+x p99 latency", out)
    for fig in _net_figures(quick_run):
        assert fig["reference"]["label"].startswith("etcd ")


def test_net_fanout_without_etcd_skips_the_comparison(without_etcd: QuickRun) -> None:
    _check_run(without_etcd, TARGETS, "")
    out = without_etcd.out
    assert "net fan-out: the etcd comparison was skipped: no etcd binary on the PATH" in out
    assert "(vs etcd)" not in out
    assert "no etcd on the PATH" in out
    for fig in _net_figures(without_etcd):
        if fig["scenario"] == "net_fanout" and fig["plot"]:
            assert fig["reference"]["label"].startswith("bare push to")
            assert fig.get("more_references", []) == []
    runs = without_etcd.report["runs"]
    expected = len(QUICK.net_watchers) * planned(2, QUICK.net_repeat) + len(QUICK.fanout_rates) * planned(
        1, QUICK.net_repeat
    )
    assert runs["planned"] == runs["done"] == expected


def test_the_progress_bar_ends_at_the_planned_runs() -> None:
    """Whatever is on the PATH: every run `net_fanout.run` makes is one `planned_runs` counted."""
    cfg = dataclasses.replace(
        QUICK, net_watchers=(2,), fanout_rates=(100,), fanout_rate_watchers=2, fanout_rate_seconds=0.1, net_repeat=1
    )
    before = progress.current()
    bar = progress.Progress(net_fanout.planned_runs(cfg), io.StringIO(), live=False)
    progress.use(bar)
    try:
        figures, _ = net_fanout.run(cfg)
    finally:
        progress.use(before)
    assert bar.done == bar.total == net_fanout.planned_runs(cfg) > 0
    assert all(f.failures == [] for f in figures)
