"""The net suite: `kvs serve` and etcd (if on the PATH) in subprocesses, lean receivers.

The quick run of every suite (the `quick_run` fixture) covers the net suite with whatever
is on the PATH; `python -m bench net --quick` runs again here with etcd hidden. Asserts
counts and exit codes, never timings.
"""

from __future__ import annotations

import re

import pytest

from bench.common import make_config
from bench.servers import etcd_version, find_etcd
from tests.bench.helpers import QuickRun, run_bench

QUICK = make_config(quick=True, repeat=None, tmp_base=None)
TARGETS = ("kvs serve", "bare push")
NET_SCENARIOS = {"net_write", "net_write_cpu", "net_fanout", "net_fanout_cpu", "net_fanout_latency"}


@pytest.fixture(scope="module")
def without_etcd(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    tmp = tmp_path_factory.mktemp("net-no-etcd")
    empty = tmp / "empty-path"
    empty.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", str(empty))  # no etcd to find
        assert find_etcd() is None
        return run_bench(tmp, "net", "--quick")


def _counts(out: str, n: int, target: str) -> list[int]:
    """The deliveries counted per run (warm-up first) for `n` streams against `target`."""
    name = f"{n} stream{'' if n == 1 else 's'}"
    pattern = (
        rf"net fan-out, {name}, {re.escape(target)}: deliveries counted per run \(warm-up first\) \[([\d, ]+)\] "
        rf"\(expected {name} x (\d+) events = (\d+)\): OK"
    )
    m = re.search(pattern, out)
    assert m, f"no OK line for {name} against {target}:\n{out}"
    assert int(m[2]) == QUICK.net_events
    assert int(m[3]) == n * QUICK.net_events
    return [int(c) for c in m[1].split(", ")]


def _check_run(run: QuickRun, targets: tuple[str, ...]) -> None:
    assert run.code == 0, run.out
    assert "result: ok" in run.out
    assert "FAILED" not in run.out
    for n in QUICK.net_watchers:
        name = f"{n} stream{'' if n == 1 else 's'}"
        assert f"net fan-out, {name} (vs" in run.out
        assert f"net fan-out, {name}, server CPU" in run.out
        assert f"net fan-out {name}, put -> delivery p99" in run.out
        for target in targets:
            assert _counts(run.out, n, target) == [n * QUICK.net_events] * (1 + QUICK.net_repeat)
    figures = [f for f in run.report["figures"] if f["scenario"].startswith("net_")]
    assert {f["scenario"] for f in figures} == NET_SCENARIOS
    fanout = [f for f in figures if f["scenario"] == "net_fanout"]
    assert len(fanout) == len(QUICK.net_watchers)
    for fig in fanout:
        assert fig["failures"] == []
        assert len(fig["samples"]) == QUICK.net_repeat
        seen = set()
        for rep in fig["details"]:
            seen.add(rep["target"].split()[0])
            assert rep["deliveries"] == rep["streams"] * rep["events"]
            assert rep["events"] == QUICK.net_events
            assert rep["problems"] == []
            assert rep["connections"] >= rep["streams"]  # one TCP connection per stream, at least
        assert seen == {t.split()[0] for t in targets}
    writes = [f for f in figures if f["scenario"] == "net_write"]
    assert len(writes) == 1 and writes[0]["failures"] == []
    for rep in writes[0]["details"]:
        assert rep["puts"] > 0
    counted = re.search(
        r"net durable puts, kvs serve: puts acknowledged per run \(warm-up first\) \[([\d, ]+)\]", run.out
    )
    assert counted and len(counted[1].split(", ")) == 1 + QUICK.net_repeat


def test_net_quick_run_in_the_full_quick_run(quick_run: QuickRun) -> None:
    etcd = find_etcd()
    _check_run(quick_run, (*TARGETS, f"etcd {etcd_version(etcd)}") if etcd else TARGETS)


@pytest.mark.skipif(find_etcd() is None, reason="no etcd on the PATH")
def test_net_quick_run_compares_with_etcd(quick_run: QuickRun) -> None:
    out = quick_run.out
    assert "etcd comparison was skipped" not in out
    assert re.search(r"net durable puts, 32 clients \(vs etcd\)", out)
    for n in QUICK.net_watchers:
        assert re.search(rf"net fan-out, {n} streams?: ours/etcd \d", out)
    assert re.search(r"etcd \d+\.\d+\.\d+ on the PATH", out.splitlines()[3])


def test_net_quick_run_without_etcd_skips_the_comparison(without_etcd: QuickRun) -> None:
    _check_run(without_etcd, TARGETS)
    out = without_etcd.out
    assert "net durable puts: the etcd comparison was skipped: no etcd binary on the PATH" in out
    assert "net fan-out: the etcd comparison was skipped: no etcd binary on the PATH" in out
    assert "(vs etcd)" not in out
    assert "net durable puts, 32 clients (vs embedded)" in out
    assert "no etcd on the PATH" in out.splitlines()[3]
    assert {f["scenario"] for f in without_etcd.report["figures"]} == NET_SCENARIOS
    for fig in without_etcd.report["figures"]:
        if fig["scenario"] == "net_fanout":
            assert fig["reference"]["label"].startswith("bare push to")
