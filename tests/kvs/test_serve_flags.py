"""`kvs serve`'s transport limits: etcd's flag names and duration syntax, `--http2-limit`
for every other field of `h2grpc.limits.Limits`, and a clear refusal of bad values."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from h2grpc.limits import Limits
from kvs import cli
from kvs.serve import limits_from_args, parse_duration, parse_limit


def _args(*argv: str) -> argparse.Namespace:
    return cli.parser().parse_args(["serve", *argv])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5.0), ("100ms", 0.1), ("2h", 7200.0), ("2h0m0s", 7200.0), ("1m30s", 90.0), ("1.5", 1.5), ("0", 0.0)],
)
def test_durations_take_gos_syntax_or_seconds(text: str, seconds: float) -> None:
    """etcd's duration flags (--grpc-keepalive-min-time=5s) are Go durations; a bare number
    is seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5 s", "5x", "-1s", "-2", "s", "nan"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


def test_defaults_are_the_transports() -> None:
    """With no flags, kvs serve runs with Limits' defaults (etcd's keepalive defaults among them)."""
    assert limits_from_args(_args()) == Limits()


def test_flags_set_their_limits() -> None:
    limits = limits_from_args(
        _args(
            "--max-concurrent-streams=250",
            "--max-connections=10",
            "--max-connection-idle=0",
            "--grpc-keepalive-min-time=1s",
            "--grpc-keepalive-interval=30s",
            "--grpc-keepalive-timeout=500ms",
            "--http2-limit",
            "max_resets=7",
            "--http2-limit",
            "handshake_timeout=2s",
            "--http2-limit",
            "permit_ping_without_calls=false",
            "--http2-limit",
            "resets-per-second=0.5",
        )
    )
    assert (limits.max_concurrent_streams, limits.max_connections, limits.max_connection_idle) == (250, 10, 0.0)
    assert (limits.min_ping_interval, limits.keepalive_interval, limits.keepalive_timeout) == (1.0, 30.0, 0.5)
    assert (limits.max_resets, limits.handshake_timeout, limits.permit_ping_without_calls) == (7, 2.0, False)
    assert limits.resets_per_second == 0.5


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("max_resets", "expected NAME=VALUE"),
        ("no_such_limit=1", "expected NAME=VALUE"),
        ("max_resets=many", "max_resets: expected a number"),
        ("max_resets=-1", "may not be negative"),
        ("permit_ping_without_calls=maybe", "expected true or false"),
        ("max_concurrent_streams=5", "set it with --max-concurrent-streams"),
        ("max_receive_message_length=5", "set it with --max-request-bytes"),
    ],
)
def test_bad_limits_name_the_field(text: str, says: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=says):
        parse_limit(text)


def test_kvs_serve_refuses_bad_limits_before_opening_the_store(tmp_path: Path) -> None:
    """A bad value is a usage error (exit 2) naming the flag or field, and no store is created."""
    data = tmp_path / "data"
    for argv, says in (
        (["--http2-limit", "max_resets=x"], "max_resets: expected a number"),
        (["--grpc-keepalive-timeout", "soon"], "expected a duration"),
        (["--max-concurrent-streams", "0"], "max_concurrent_streams"),
        (["--http2-limit", "max_header_block_size=1000"], "max_header_block_size"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "kvs", "serve", "--data-dir", str(data), *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 2, out.stderr
        assert says in out.stderr
        assert not data.exists()
