"""`python -m bench --quick`: a smoke run of every scenario. Asserts counts, never timings."""

from __future__ import annotations

import re

import pytest

from bench.__main__ import main
from bench.common import make_config
from tests.bench.helpers import QuickRun

QUICK = make_config(quick=True, repeat=None, tmp_base=None)


def test_quick_run_exits_zero(quick_run: QuickRun) -> None:
    assert quick_run.code == 0, quick_run.out
    assert "result: ok" in quick_run.out
    assert "FAILED" not in quick_run.out


def test_the_machine_is_printed_first(quick_run: QuickRun) -> None:
    head = quick_run.out.splitlines()[:5]
    assert any("CPUs" in line for line in head)
    assert any("python" in line and "lmdb" in line and "msgpack" in line for line in head)


def test_every_scenario_is_in_the_table(quick_run: QuickRun) -> None:
    out = quick_run.out
    for label in ("durable puts, 1 writer", "durable puts, 64 writers", "range reads, 1 key of"):
        assert label in out
    for n in QUICK.fanout_watchers:
        name = f"{n} watcher{'' if n == 1 else 's'}"
        assert f"watch fan-out, {name}" in out
        assert f"fan-out {name}, put -> delivery p50" in out
        assert f"fan-out {name}, put -> delivery p99" in out
    # targets are printed as met or missed, whatever the figure
    assert re.search(r">= 20,000: (met|missed)", out)
    assert re.search(r">= 1,000,000: (met|missed)", out)
    assert "group-committed" in out


def test_fan_out_counts_every_delivery(quick_run: QuickRun) -> None:
    events = QUICK.fanout_events
    pattern = re.compile(
        r"watch fan-out, (\d+) watchers?: deliveries counted per run \(warm-up first\) \[([\d, ]+)\] "
        r"\(expected \d+ watchers? x (\d+) events = (\d+)\): OK"
    )
    found = {int(m[1]): m for m in pattern.finditer(quick_run.out)}
    assert sorted(found) == sorted(QUICK.fanout_watchers)
    for n, m in found.items():
        counted = [int(c) for c in m[2].split(", ")]
        assert len(counted) == 1 + QUICK.repeat  # the warm-up, then each repetition
        assert int(m[3]) == events
        assert counted == [n * events] * len(counted)
        assert int(m[4]) == n * events


def test_json_has_the_raw_samples(quick_run: QuickRun) -> None:
    report = quick_run.report
    assert report["failed"] is False
    assert report["machine"]["cpus"]
    figures = report["figures"]
    assert {f["scenario"] for f in figures} == {
        "store_write",
        "store_read",
        "store_fanout",
        "store_fanout_latency",
        "net_write",
        "net_write_cpu",
        "net_fanout",
        "net_fanout_cpu",
        "net_fanout_latency",
        "resource_write",
        "resource_list",
        "resource_fanout",
        "informer",
    }
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
            assert rep["events"] == QUICK.fanout_events
            assert rep["problems"] == []
    reads = [f for f in figures if f["scenario"] == "store_read"]
    assert [rep["reads"] for rep in reads[0]["details"]] == [QUICK.reads] * QUICK.repeat


def test_resource_scenarios_count_every_object(quick_run: QuickRun) -> None:
    """The resource suite: writes through the registry, a full list, and object fan-out where every
    watcher received every object (counted by the receivers), embedded and over gRPC."""
    figures = quick_run.report["figures"]
    writes = [f for f in figures if f["scenario"] == "resource_write"]
    assert [f["label"].split(" of ")[0] for f in writes] == ["creates", "updates"] * 2
    assert all(rep["creates"] > 0 and rep["updates"] > 0 for f in writes for rep in f["details"])
    lists = [f for f in figures if f["scenario"] == "resource_list" and f["unit"] == "ms"]
    assert len(lists) == 2
    assert all(rep["items"] == QUICK.list_objects for f in lists for rep in f["details"])
    fanout = [f for f in figures if f["scenario"] == "resource_fanout"]
    assert len(fanout) == 2 * len(QUICK.resource_watchers)
    for fig in fanout:
        for rep in fig["details"]:
            assert rep["deliveries"] == rep["watchers"] * QUICK.resource_events
            assert rep["problems"] == []


def test_informer_scenarios_count_every_handler_call(quick_run: QuickRun) -> None:
    """The informer suite: every pod synced, every handler saw every object (counted by the handlers)."""
    figures = [f for f in quick_run.report["figures"] if f["scenario"] == "informer"]
    syncs = [f for f in figures if f["unit"] == "s"]
    assert syncs and all(rep["objects"] == 1_000 for f in syncs for rep in f["details"])
    events = [f for f in figures if f["unit"] == "handler calls/s"]
    assert len(events) == 2
    for fig in events:
        for rep in fig["details"]:
            assert rep["deliveries"] == rep["informers"] * QUICK.resource_events and rep["problems"] == []


def test_kvs_bench_delegates_to_the_suite(capsys: pytest.CaptureFixture[str]) -> None:
    from kvstore.cli import main as kvs_main

    with pytest.raises(SystemExit) as exc:
        kvs_main(["bench", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--quick" in out and "--repeat" in out and "--json" in out


def test_bad_repeat_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--repeat", "0"])
    assert exc.value.code == 2


def test_unknown_suite_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["nosuch"])
    assert exc.value.code == 2
