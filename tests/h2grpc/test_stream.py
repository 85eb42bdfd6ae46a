"""`h2grpc.stream.StreamState`: request bytes split into gRPC messages (gRPC over HTTP/2,
Length-Prefixed-Message) and the rules a request's messages follow; no I/O at all."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from h2grpc import status
from h2grpc.errors import RequestError
from h2grpc.stream import StreamState
from tests.h2grpc.clients import grpc_message


def stream(*, unary: bool = False, max_message: int = 1 << 20) -> StreamState:
    state = StreamState(1, max_message=max_message)
    state.unary = unary
    return state


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(max_size=300), max_size=8),
    st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=30),
)
def test_messages_independent_of_chunks(messages: list[bytes], sizes: list[int]) -> None:
    """gRPC over HTTP/2: message boundaries are independent of DATA frames; any cutting of
    the bytes yields the same messages, each counted once when it completes."""
    data = b"".join(grpc_message(m) for m in messages)
    state = stream()
    pos = completed = 0
    i = 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        completed += state.feed(data[pos : pos + size])
        pos += size
        i += 1
    assert list(state.messages) == messages
    assert completed == state.messages_received == len(messages)
    state.end_of_requests()  # nothing left over
    assert state.recv_closed


def test_compressed_flag_refused_from_the_prefix() -> None:
    """gRPC over HTTP/2 (Compressed-Flag 1) as grpc-go answers it, as soon as the prefix is
    seen: with no grpc-encoding (or identity) the flag is a malformed message, INTERNAL; with
    an encoding we cannot decompress, UNIMPLEMENTED (gRPC's compression spec)."""
    with pytest.raises(RequestError) as err:
        stream().feed(grpc_message(b"\x1f\x8b...", compressed=True)[:5])
    assert err.value.status == status.INTERNAL
    assert "compressed flag set with identity or empty encoding" in err.value.details
    gzip = stream()
    gzip.encoding = b"gzip"
    with pytest.raises(RequestError) as err:
        gzip.feed(grpc_message(b"\x1f\x8b...", compressed=True)[:5])
    assert err.value.status == status.UNIMPLEMENTED and "'gzip'" in err.value.details


def test_size_limit() -> None:
    """gRPC (max receive message length): a message of the limit is taken, one byte more is
    RESOURCE_EXHAUSTED from its prefix alone, named as grpc-go and grpcio name it."""
    state = stream(max_message=10)
    assert state.feed(grpc_message(b"x" * 10)) == 1
    with pytest.raises(RequestError) as err:
        state.feed(b"\x00\x00\x00\x00\x0b")
    assert err.value.status == status.RESOURCE_EXHAUSTED
    assert err.value.details == "grpc: received message larger than max (11 vs. 10)"


def test_end_inside_a_message() -> None:
    """gRPC over HTTP/2: the stream may not end inside a message (INTERNAL), prefix or body."""
    for cut in (3, 7):
        state = stream()
        state.feed(grpc_message(b"abcdef")[:cut])
        with pytest.raises(RequestError) as err:
            state.end_of_requests()
        assert err.value.status == status.INTERNAL and state.recv_closed


def test_unary_takes_one_message() -> None:
    """gRPC (a unary call has exactly one request message): a second message is INTERNAL
    when it completes, none at the end is INTERNAL too."""
    state = stream(unary=True)
    assert state.feed(grpc_message(b"one") + grpc_message(b"two")[:4]) == 1
    with pytest.raises(RequestError) as err:
        state.feed(grpc_message(b"two")[4:])
    assert err.value.status == status.INTERNAL and "got more" in err.value.details
    with pytest.raises(RequestError) as err:
        stream(unary=True).end_of_requests()
    assert err.value.status == status.INTERNAL and "got none" in err.value.details


def test_nothing_checked_once_the_status_is_decided() -> None:
    """Once the call's status is decided (the response is done), the end of the requests is
    only noted: an incomplete request no longer matters."""
    state = stream(unary=True)
    state.feed(b"\x00\x00")
    state.response_done = True
    state.end_of_requests()
    assert state.recv_closed


def test_queued_response_bytes_keep_their_order_until_dropped() -> None:
    """Response DATA waiting for window goes out in the order it was queued (RFC 9113 section
    5.1: frames on a stream are ordered); a failed call drops all of it."""
    state = stream()
    state.queue(memoryview(b"abc"))
    state.queue(memoryview(b"de"))
    assert [bytes(c) for c in state.pending] == [b"abc", b"de"]
    state.drop_queued()
    assert not state.pending
