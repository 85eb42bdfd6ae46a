"""`h2grpc.limits`: the token bucket behind the flood limits, and what `Limits` accepts."""

from __future__ import annotations

import dataclasses

import pytest

from h2grpc import limits as lim
from h2grpc.limits import Limits, TokenBucket


def test_token_bucket_burst_then_rate() -> None:
    """A token bucket (the rate limit nghttp2 and Go's http2 use against floods): `burst`
    takes at once, then one more per 1/rate seconds; a refused take spends nothing."""
    bucket = TokenBucket(3, 2.0, now=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]
    assert not bucket.take(100.4)  # 0.8 of a token
    assert bucket.take(100.5)  # one whole: the refused takes kept what had refilled
    assert not bucket.take(100.5)
    assert bucket.take(101.0)


def test_token_bucket_refills_up_to_burst() -> None:
    """Idle time refills the bucket to `burst` at most, however long it was."""
    bucket = TokenBucket(2, 10.0, now=0.0)
    assert bucket.take(0.0) and bucket.take(0.0)
    takes = [bucket.take(3600.0) for _ in range(3)]
    assert takes == [True, True, False]


def test_token_bucket_zero_rate_is_a_total() -> None:
    """A rate of 0 makes `burst` a total for the connection's life."""
    bucket = TokenBucket(1, 0.0, now=0.0)
    assert bucket.take(0.0)
    assert not bucket.take(1e9)


def test_limits_defaults() -> None:
    """The defaults are valid, frozen, and named after where they come from (limits.py)."""
    limits = Limits()
    assert limits.max_concurrent_streams == 1000
    assert limits.max_header_block_size >= limits.max_header_list_size
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.max_resets = 1  # type: ignore[misc]
    assert len(set(lim.LIMIT_NAMES)) == len(lim.LIMIT_NAMES)


@pytest.mark.parametrize("name", ["max_request_buffer", "resets_per_second", "keepalive_timeout", "max_ping_strikes"])
def test_limits_reject_negative(name: str) -> None:
    """No bound may be negative; the error names the field."""
    with pytest.raises(ValueError, match=f"Limits.{name}"):
        Limits(**{name: -1})


@pytest.mark.parametrize("name", ["max_concurrent_streams", "frames_per_turn", "max_connections"])
def test_limits_reject_zero_where_it_would_serve_nothing(name: str) -> None:
    """0 streams, frames per turn or connections would serve nothing: at least 1."""
    with pytest.raises(ValueError, match="at least 1"):
        Limits(**{name: 0})


def test_limits_zero_turns_a_timeout_off() -> None:
    """A time of 0 is valid (that timeout is off), so are 0 resets or strikes (no budget)."""
    limits = Limits(handshake_timeout=0, send_stall_timeout=0, max_resets=0, max_ping_strikes=0)
    assert limits.handshake_timeout == 0


def test_limits_block_size_covers_list_size() -> None:
    """max_header_block_size (the hard cap: past it the connection closes) may not be under
    max_header_list_size (the soft cap, answered with HTTP 431)."""
    with pytest.raises(ValueError, match="max_header_block_size"):
        Limits(max_header_list_size=2000, max_header_block_size=1999)
    assert Limits(max_header_list_size=2000, max_header_block_size=2000).max_header_block_size == 2000
