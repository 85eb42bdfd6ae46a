"""`python -m kvs.bench --quick`: a smoke run of every scenario. Asserts counts, never timings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from kvs.bench.__main__ import main
from kvs.bench.common import make_config
from tests.kvs.bench.helpers import QuickRun, run_bench

QUICK = make_config(quick=True, repeat=None, tmp_base=None)


def test_quick_run_exits_zero(quick_run: QuickRun) -> None:
    assert quick_run.code == 0, quick_run.out
    assert "result: ok" in quick_run.out
    assert "FAILED" not in quick_run.out


def test_the_machine_is_printed_first(quick_run: QuickRun) -> None:
    head = quick_run.out.splitlines()[:5]
    assert any("CPUs" in line for line in head)
    assert any("python" in line and "lmdb" in line and "msgpack" in line for line in head)


def _writers(n: int) -> str:
    return f"{n} writer{'' if n == 1 else 's'}"


def _watchers(n: int) -> str:
    return f"{n} watcher{'' if n == 1 else 's'}"


def test_every_scenario_is_in_the_table(quick_run: QuickRun) -> None:
    out = quick_run.out
    for size in ("128 B", "1 KiB"):
        for w in QUICK.writers:
            assert f"durable puts, {_writers(w)}, {size}, embedded" in out
    for w in QUICK.net_writers:
        assert f"durable puts, {_writers(w)}, 128 B, gRPC" in out
        assert f"durable puts, {_writers(w)}, 128 B, gRPC, server CPU" in out
    assert "range reads, 1 key of 2,000, embedded" in out
    for n in QUICK.fanout_watchers:
        assert f"watch fan-out, {_watchers(n)}, embedded" in out
        for q in ("p50", "p99", "p999"):
            assert f"fan-out {_watchers(n)}, embedded, put -> delivery {q}" in out
        assert f"fan-out {_watchers(n)}, embedded, process CPU" in out
    for rate in QUICK.fanout_rates:
        for q in ("p50", "p99", "p999"):
            label = f"fan-out {_watchers(QUICK.fanout_rate_watchers)} at {rate:,} events/s, embedded"
            assert f"{label}, put -> delivery {q}" in out
    # targets are printed as met or missed, whatever the figure
    assert re.search(r">= 20,000: (met|missed)", out)
    assert re.search(r">= 1,000,000 and >= 0.067x deques: (met|missed)", out)
    assert re.search(r">= 1.00x etcd: (met|missed)|>= 1.00x etcd: skipped", out)
    assert "group-committed" in out


def test_fan_out_counts_every_delivery(quick_run: QuickRun) -> None:
    """Receivers count deliveries; every run (warm-up too) delivered watchers x events, each checked."""
    pattern = re.compile(
        r"(?:watch )?fan-out,? (\d+) watchers?(?: at ([\d,]+) events/s)?, embedded: deliveries counted per run "
        r"\(warm-up first\) \[([\d, ]+)\] \(expected \d+ watchers? x (\d+) events = (\d+)\): OK"
    )
    found = {(int(m[1]), m[2]): m for m in pattern.finditer(quick_run.out)}
    unpaced = [(n, None) for n in QUICK.fanout_watchers]
    paced = [(QUICK.fanout_rate_watchers, str(rate)) for rate in QUICK.fanout_rates]
    assert sorted(found, key=str) == sorted(unpaced + paced, key=str)
    for (n, rate), m in found.items():
        events = QUICK.events_for(n) if rate is None else round(int(rate) * QUICK.fanout_rate_seconds)
        counted = [int(c) for c in m[3].split(", ")]
        assert len(counted) == 1 + QUICK.repeat  # the warm-up, then each repetition
        assert int(m[4]) == events
        assert counted == [n * events] * len(counted)
        assert int(m[5]) == n * events


def test_progress_counts_every_planned_run(quick_run: QuickRun) -> None:
    """Each scenario's planned_runs matches the runs it made, so the bar ends at 100%."""
    runs = quick_run.report["runs"]
    assert runs["planned"] == runs["done"] > 0


def test_out_dir_has_json_markdown_and_plots(quick_run: QuickRun) -> None:
    out = quick_run.out_dir
    names = {p.name for p in out.iterdir()}
    assert {"results.json", "report.md"} <= names
    for plot in ("write", "write_cpu", "fanout", "fanout_latency", "fanout_rate", "fanout_cpu"):
        assert f"{plot}.png" in names
        assert (out / f"{plot}.png").read_bytes()[:4] == b"\x89PNG"
        assert f"]({plot}.png)" in (out / "report.md").read_text(encoding="utf-8")
    assert quick_run.report["command"].startswith("kvs bench --quick")


def test_json_has_the_raw_samples(quick_run: QuickRun) -> None:
    report = quick_run.report
    assert report["failed"] is False
    assert report["machine"]["cpus"]
    assert report["machine"]["grpcio"] and report["machine"]["hpack"] and report["machine"]["kvstore-kit"]
    figures = report["figures"]
    assert {
        "store_write",
        "store_read",
        "store_fanout",
        "store_fanout_latency",
        "store_fanout_rate",
        "store_fanout_cpu",
        "net_write",
        "net_write_cpu",
        "net_fanout",
        "resource_write",
        "resource_list",
        "resource_fanout",
        "informer",
    } <= {f["scenario"] for f in figures}
    for fig in figures:
        assert fig["failures"] == []
        if fig["scenario"].startswith("resource_") or fig["scenario"] == "informer":
            continue  # their repetitions are checked below
        repeat = QUICK.net_repeat if fig["scenario"].startswith("net_") else QUICK.repeat
        assert len(fig["samples"]) == repeat
    fanout = [f for f in figures if f["scenario"] == "store_fanout"]
    assert len(fanout) == len(QUICK.fanout_watchers)
    for fig in fanout:
        assert len(fig["reference"]["samples"]) == QUICK.repeat
        for rep in fig["details"]:
            assert rep["deliveries"] == rep["watchers"] * rep["events"]
            assert rep["events"] == QUICK.events_for(rep["watchers"])
            assert rep["problems"] == []
    writes = [f for f in figures if f["scenario"] == "store_write"]
    assert len(writes) == len(QUICK.writers) * len(QUICK.value_sizes)
    assert all(rep["puts"] > 0 for f in writes for rep in f["details"])
    reads = [f for f in figures if f["scenario"] == "store_read"]
    assert [rep["reads"] for rep in reads[0]["details"]] == [QUICK.reads] * QUICK.repeat


def test_one_suite_in_one_mode(tmp_path: Path) -> None:
    """`kvs bench fanout --mode embedded`: only that suite's embedded figures, and the bar still adds up."""
    run = run_bench(tmp_path, "fanout", "--quick", "--mode", "embedded", "--repeat", "1")
    assert run.code == 0, run.out
    scenarios = {f["scenario"] for f in run.report["figures"]}
    assert scenarios == {"store_fanout", "store_fanout_latency", "store_fanout_rate", "store_fanout_cpu"}
    assert run.report["runs"]["planned"] == run.report["runs"]["done"]
    assert run.report["config"]["modes"] == ["embedded"]


def test_resource_scenarios_count_every_object(quick_run: QuickRun) -> None:
    """The resource suite: writes through the registry, a full list, and object fan-out where every
    watcher received every object (counted by the receivers), embedded and over gRPC, each with the
    watch cache on and off."""
    figures = quick_run.report["figures"]
    writes = [f for f in figures if f["scenario"] == "resource_write"]
    assert [f["label"].split(" of ")[0] for f in writes] == ["creates", "updates"] * 4
    assert all(rep["creates"] > 0 and rep["updates"] > 0 for f in writes for rep in f["details"])
    lists = [f for f in figures if f["scenario"] == "resource_list" and f["unit"] == "ms"]
    assert len(lists) == 4
    assert all(rep["items"] == QUICK.list_objects for f in lists for rep in f["details"])
    fanout = [f for f in figures if f["scenario"] == "resource_fanout"]
    assert len(fanout) == 4 * len(QUICK.resource_watchers)
    for fig in fanout:
        for rep in fig["details"]:
            assert rep["deliveries"] == rep["watchers"] * QUICK.resource_events
            assert rep["problems"] == []


def _cache_pairs(figures: list[dict[str, Any]], label: str) -> None:
    """The figure `label` (watch cache on) is followed by its `watch cache off` twin, against the same reference."""
    by_label = {f["label"]: f for f in figures}
    on = by_label[label]
    head, colon, tail = label.partition(":")
    off = by_label[f"{head}, watch cache off{colon}{tail}"]
    assert figures.index(on) < figures.index(off)
    assert on["details"] == [] or all(rep["watch_cache"] is True for rep in on["details"])
    assert off["details"] == [] or all(rep["watch_cache"] is False for rep in off["details"])
    assert on["reference"]["samples"] == off["reference"]["samples"]
    assert on["reference"]["label"] == off["reference"]["label"]


def test_resource_and_informer_figures_come_with_the_watch_cache_on_and_off(quick_run: QuickRun) -> None:
    figures = quick_run.report["figures"]
    for where in ("embedded", "gRPC"):
        for what in ("creates", "updates"):
            _cache_pairs(figures, f"{what} of 2 KiB objects, {QUICK.resource_clients} clients, {where}")
        for n in QUICK.resource_watchers:
            _cache_pairs(figures, f"object fan-out, {_watchers(n)}, {where}")
        _cache_pairs(figures, f"list {QUICK.list_objects:,} pods, {where}: latency")
        for n in QUICK.informer_objects:
            _cache_pairs(figures, f"informer list+sync, {n:,} pods, {where}")
            _cache_pairs(figures, f"informer cache memory per pod, {n:,} pods, {where}")
        for n in QUICK.informer_counts:
            informers = f"{n} informer{'' if n == 1 else 's'}"
            _cache_pairs(figures, f"events through {informers}, {where}")
            _cache_pairs(figures, f"events through {informers}, {where}: p99 create -> handler")
    _cache_pairs(figures, f"list {QUICK.list_objects:,} pods, embedded: peak Python memory")
    _cache_pairs(figures, f"list {QUICK.list_objects:,} pods, gRPC: peak Python memory (client)")
    # the one target the quick sizes reach: creates embedded, cache on, against the raw puts
    assert re.search(r"creates of 2 KiB objects, \d+ clients, embedded .*>= 0.50x puts: (met|missed)", quick_run.out)


def test_informer_scenarios_count_every_handler_call(quick_run: QuickRun) -> None:
    """The informer suite: every pod synced, every handler saw every object (counted by the handlers)."""
    figures = [f for f in quick_run.report["figures"] if f["scenario"] == "informer"]
    syncs = [f for f in figures if f["unit"] == "s"]
    assert syncs and all(rep["objects"] == 1_000 for f in syncs for rep in f["details"])
    events = [f for f in figures if f["unit"] == "handler calls/s"]
    assert len(events) == 4 * len(QUICK.informer_counts)  # embedded and gRPC, the watch cache on and off
    for fig in events:
        for rep in fig["details"]:
            assert rep["deliveries"] == rep["informers"] * QUICK.resource_events and rep["problems"] == []


def test_kvs_bench_delegates_to_the_suite(capsys: pytest.CaptureFixture[str]) -> None:
    from kvs.cli import main as kvs_main

    with pytest.raises(SystemExit) as exc:
        kvs_main(["bench", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--quick" in out and "--repeat" in out and "--json" in out and "--out" in out and "--mode" in out


def test_bad_repeat_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--repeat", "0"])
    assert exc.value.code == 2


def test_unknown_suite_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["nosuch"])
    assert exc.value.code == 2
