"""`kvs bench attack`: one --quick run against kvs serve (native transport only: about 16 s), and
the suite's pure parts. Asserts counts and shapes, never timings."""

from __future__ import annotations

import dataclasses

import pytest

from kvs.bench import attack_bench, progress
from kvs.bench.__main__ import ALL, SUITES
from kvs.bench.attacks import AttackResult, AttackRun, ProbeResult, ProbeSample
from kvs.bench.common import Config, make_config
from kvs.bench.report import Figure, render_results

QUICK = dataclasses.replace(make_config(quick=True, repeat=None, tmp_base=None), attack_targets=("native",))


@dataclasses.dataclass(frozen=True)
class AttackRunOut:
    figures: list[Figure]
    notes: list[str]
    bar: progress.Progress


@pytest.fixture(scope="module")
def quick_attack_run() -> AttackRunOut:
    bar = progress.Progress(attack_bench.planned_runs(QUICK), live=False)
    progress.use(bar)
    figures, notes = attack_bench.run(QUICK)
    return AttackRunOut(figures, notes, bar)


def test_every_attack_ran_once_under_the_probe(quick_attack_run: AttackRunOut) -> None:
    """Each attack ran against the server with the probe before, during and after it, and the
    100 keys survived (a lost key would be a failure)."""
    figures = quick_attack_run.figures
    assert [f.scenario for f in figures] == ["attack"] * len(attack_bench.ATTACKS) + ["attack_rss"] * len(
        attack_bench.ATTACKS
    )
    assert all(not f.failures for f in figures), [f.failures for f in figures if f.failures]
    for fig in figures:
        (detail,) = fig.details
        assert detail["target"] == "kvs serve" and detail["problem"] == ""
        assert detail["probe_calls"] >= 2 * (1 + 1 + 1)  # a Put and a Range: a round before, during, after
        assert detail["rss_peak"] >= detail["rss_before"] > 0
        assert detail["attacker"]
    assert quick_attack_run.bar.done == quick_attack_run.bar.total == len(attack_bench.ATTACKS)


def test_the_table_has_a_row_per_attack(quick_attack_run: AttackRunOut) -> None:
    out = render_results(quick_attack_run.figures, quick_attack_run.notes)
    assert "attacker's connection" in out
    for attack in attack_bench.ATTACKS:
        assert f"{attack.name}: probe max latency during" in out
        assert f"{attack.name}: server RSS growth" in out
        assert any(line.startswith(attack.name) and "kvs serve" in line for line in quick_attack_run.notes)
    assert "result: ok" in out


def test_the_suite_runs_by_name_not_in_all() -> None:
    assert SUITES["attack"] == [attack_bench]
    assert "attack" not in ALL and set(ALL) | {"attack"} == set(SUITES)


def test_no_grpc_mode_no_runs() -> None:
    cfg = dataclasses.replace(QUICK, modes=("embedded",))
    assert attack_bench.planned_runs(cfg) == 0
    assert attack_bench.run(cfg) == ([], [])


def _outcome(target: str, max_during: float, growth: int) -> attack_bench.Outcome:
    probe = ProbeResult(
        [ProbeSample("before", "put", 0.001), ProbeSample("during", "put", max_during, "DEADLINE_EXCEEDED")]
    )
    run = AttackRun(AttackResult("x", ended="GOAWAY ENHANCE_YOUR_CALM"), probe, 40 << 20, (40 << 20) + growth, 40 << 20)
    return attack_bench.Outcome(attack_bench.ATTACKS[0].name, target, run)


def test_figures_put_etcd_as_the_reference_and_grpcio_beside_it() -> None:
    outcomes = [_outcome("native", 0.01, 1 << 20), _outcome("grpcio", 2.0, 3 << 20), _outcome("etcd", 0.02, 2 << 20)]
    latency, rss = attack_bench._figures(outcomes)
    assert latency.samples == [10.0] and latency.reference == [20.0] and latency.reference_label == "etcd"
    assert [(e.label, e.samples) for e in latency.more] == [("kvs serve grpcio", [2000.0])]
    assert rss.samples == [1.0] and rss.reference == [2.0] and rss.more[0].samples == [3.0]
    assert latency.lower_is_better and not latency.failures  # a probe failure is a finding, not a harness failure
    table = "\n".join(attack_bench.render_table(outcomes))
    assert "GOAWAY ENHANCE_YOUR_CALM" in table and " 1  " in table  # one failed probe call


def test_a_server_that_did_not_start_fails_its_rows() -> None:
    broken = attack_bench.Outcome(attack_bench.ATTACKS[0].name, "etcd", None, "etcd did not start: boom")
    (latency, _) = attack_bench._figures([_outcome("native", 0.01, 0), broken])
    assert latency.failures == ["etcd: etcd did not start: boom"]
    assert latency.reference is None
    assert "FAILED: etcd did not start: boom" in "\n".join(attack_bench.render_table([broken]))


def test_targets_without_etcd_on_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attack_bench, "find_etcd", lambda: None)
    cfg: Config = dataclasses.replace(QUICK, attack_targets=attack_bench.TARGETS)
    assert attack_bench.targets(cfg) == ["native", "grpcio"]
    assert attack_bench.planned_runs(cfg) == 2 * len(attack_bench.ATTACKS)
