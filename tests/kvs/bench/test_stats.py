"""bench.stats: medians, spreads and percentiles."""

from __future__ import annotations

import pytest

from kvs.bench.report import fmt_num, fmt_ratio
from kvs.bench.stats import median, percentile, summarize


def test_median_of_odd_and_even_counts() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    with pytest.raises(ValueError):
        median([])


def test_summary_flags_a_wide_spread() -> None:
    s = summarize([10.0, 12.0, 14.0])
    assert (s.median, s.min, s.max, s.n) == (12.0, 10.0, 14.0, 3)
    assert not s.wide
    assert summarize([10.0, 16.0]).wide
    assert summarize([0.0, 1.0]).wide
    assert not summarize([0.0, 0.0]).wide


def test_percentile_interpolates() -> None:
    values = [float(i) for i in range(101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([1.0, 2.0], 50) == 1.5
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_number_formats() -> None:
    assert fmt_num(1234567.8) == "1,234,568"
    assert fmt_num(12.345) == "12.3"
    assert fmt_num(0.01234) == "0.0123"
    assert fmt_ratio(43.71) == "43.7x"
    assert fmt_ratio(0.5) == "0.50x"
