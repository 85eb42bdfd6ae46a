"""bench.report: targets (absolute, ratio, lower-is-better) and the configuration's event budget."""

from __future__ import annotations

from kvs.bench.common import make_config
from kvs.bench.report import Extra, Figure, render_table, target_text


def _fig(samples: list[float], ref: list[float] | None = None, **kw: object) -> Figure:
    return Figure("s", "label", "unit", samples, reference=ref, **kw)  # type: ignore[arg-type]


def test_both_targets_must_be_met() -> None:
    fig = _fig([2_000_000.0], [20_000_000.0], target=1_000_000.0, ratio_target=1 / 15, ratio_target_of="deques")
    assert fig.target_met is True
    assert target_text(fig) == ">= 1,000,000 and >= 0.067x deques"
    slow = _fig([900_000.0], [20_000_000.0], target=1_000_000.0, ratio_target=1 / 15)
    assert slow.target_met is False  # under the absolute target
    far = _fig([1_200_000.0], [40_000_000.0], target=1_000_000.0, ratio_target=1 / 15)
    assert far.target_met is False  # over the absolute target but more than 15x from the reference


def test_lower_is_better_targets_compare_the_other_way() -> None:
    fig = _fig([90.0], [100.0], ratio_target=1.0, ratio_target_of="etcd", lower_is_better=True)
    assert fig.target_met is True
    assert target_text(fig) == "<= 1.00x etcd"
    assert _fig([110.0], [100.0], ratio_target=1.0, lower_is_better=True).target_met is False


def test_a_failed_figure_misses_its_target_whatever_its_speed() -> None:
    fig = _fig([1e9], [1.0], target=1.0, failures=["watcher 3: missed 1"])
    assert fig.target_met is False
    assert "FAILED" in render_table([fig])[2]


def test_further_references_are_rows_with_their_ratio() -> None:
    fig = _fig([10.0], [5.0], more=[Extra("bare push", [20.0], "bare push")])
    out = fig.to_json()
    assert out["more_references"][0]["series"] == "bare push"
    assert out["more_references"][0]["ratio"] == 0.5
    assert any("vs bare push" in line and "0.50x" in line for line in render_table([fig]))


def test_many_watchers_get_fewer_events_within_the_delivery_budget() -> None:
    cfg = make_config(quick=False, repeat=None, tmp_base=None)
    assert cfg.events_for(1) == cfg.fanout_events == 2_000
    assert cfg.events_for(500) == 2_000
    assert cfg.events_for(1000) == 1_000  # 1,000,000 deliveries
    assert cfg.events_for(10_000) == 100
    assert cfg.events_for(10_000, net=True) == 100
    assert cfg.events_for(100_000) == cfg.fanout_min_events == 100


def test_the_markdown_report_shows_both_parts_of_a_target() -> None:
    """The report's target column is the table's: an absolute and a ratio target both appear."""
    from kvs.bench.markdown import target_text as md_target

    fig = _fig([2_000_000.0], [20_000_000.0], target=1_000_000.0, ratio_target=1 / 15, ratio_target_of="deques")
    assert md_target(fig.to_json()) == ">= 1,000,000 and >= 0.067x deques: met"
    skipped = _fig([1.0], target_skipped=">= 1.00x etcd: skipped (no etcd)")
    assert md_target(skipped.to_json()) == ">= 1.00x etcd: skipped (no etcd)"
