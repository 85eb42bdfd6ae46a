"""Summaries of repeated measurements."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

SPREAD_LIMIT = 1.5  # max/min above this is flagged


@dataclass(frozen=True)
class Summary:
    median: float
    min: float
    max: float
    n: int

    @property
    def spread(self) -> float:
        """max/min; infinite when min is zero."""
        if self.min <= 0:
            return math.inf if self.max > 0 else 1.0
        return self.max / self.min

    @property
    def wide(self) -> bool:
        """True when the repetitions disagree by more than SPREAD_LIMIT."""
        return self.spread > SPREAD_LIMIT


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def summarize(samples: Sequence[float]) -> Summary:
    return Summary(median(samples), min(samples), max(samples), len(samples))


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, by linear interpolation."""
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} out of range")
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
