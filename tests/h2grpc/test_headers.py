"""`headers.py` against the reference HPACK implementation (`hpack`) and the gRPC header
conventions (gRPC over HTTP/2: Timeout, Status-Message, Custom-Metadata)."""

from __future__ import annotations

import base64
import random
import urllib.parse

import hpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from h2grpc import headers as h
from h2grpc import wire as frames
from h2grpc.errors import ConnectionProtocolError

LENGTHS = [0, 1, 30, 126, 127, 128, 129, 254, 255, 256, 16_383, 16_384, 16_511, 100_000]


def reference_decode(block: bytes) -> list[tuple[bytes, bytes]]:
    decoder = hpack.Decoder(max_header_list_size=1 << 22)
    fields = [(bytes(n), bytes(v)) for n, v in decoder.decode(block, raw=True)]
    assert len(decoder.header_table.dynamic_entries) == 0, "a literal must not be indexed"
    return fields


@pytest.mark.parametrize("length", LENGTHS)
def test_literal_decodes_with_hpack(length: int) -> None:
    """RFC 7541 section 6.2.2 (literal header field without indexing, new name) with the
    string lengths as section 5.1 prefix integers: under, at and above the 7-bit prefix
    (127) and the multi-byte continuation boundaries."""
    name = b"x-" + b"n" * length
    value = bytes(random.Random(length).randrange(0x20, 0x7F) for _ in range(length))
    block = h.literal(name, value)
    assert reference_decode(block) == [(name, value)]
    assert reference_decode(h.literal(b"k", value)) == [(b"k", value)]


def test_encode_many_fields_in_order() -> None:
    """RFC 7541 section 3.2: a header block is the concatenation of its representations,
    decoded in order (duplicates kept)."""
    fields = [(b"x-%d" % n, b"v" * n) for n in LENGTHS] + [(b"dup", b"1"), (b"dup", b"2"), (b"empty", b"")]
    assert reference_decode(h.encode(fields)) == fields


def test_response_constants() -> None:
    """gRPC over HTTP/2 (Response-Headers, Trailers): ':status 200' (RFC 7541 Appendix A
    static index 8), 'content-type: application/grpc', and 'grpc-status: 0'."""
    assert reference_decode(h.RESPONSE_HEADERS) == [(b":status", b"200"), (b"content-type", b"application/grpc")]
    assert reference_decode(h.OK_TRAILERS) == [(b"grpc-status", b"0")]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("", b""),
        ("plain ASCII: with spaces, ~tilde! and {braces}", b"plain ASCII: with spaces, ~tilde! and {braces}"),
        ("100%", b"100%25"),
        ("%%", b"%25%25"),
        ("line\nbreak\ttab", b"line%0Abreak%09tab"),
        ("del\x7f", b"del%7F"),
        ("ünï", b"%C3%BCn%C3%AF"),
        ("✓", b"%E2%9C%93"),
    ],
)
def test_percent_encode(message: str, expected: bytes) -> None:
    """gRPC over HTTP/2, Status-Message: bytes 0x20-0x7E except '%' go as they are, every
    other byte of the UTF-8 encoding (and '%') as '%' and two hex digits."""
    assert h.percent_encode(message) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=200))
def test_percent_encode_round_trips(message: str) -> None:
    """gRPC over HTTP/2, Status-Message: the encoding is printable ASCII and percent-decodes
    to the message's UTF-8 bytes."""
    encoded = h.percent_encode(message)
    assert all(0x20 <= b <= 0x7E for b in encoded)
    assert urllib.parse.unquote_to_bytes(encoded) == message.encode("utf-8")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (b"1H", 3600.0),
        (b"2M", 120.0),
        (b"3S", 3.0),
        (b"250m", 0.25),
        (b"7u", 7e-6),
        (b"9n", 9e-9),
        (b"0S", 0.0),
        (b"99999999S", 99_999_999.0),
        (b"00000010m", 0.01),
    ],
)
def test_parse_timeout_units(value: bytes, seconds: float) -> None:
    """gRPC over HTTP/2, Timeout: TimeoutValue (at most 8 ASCII digits) then TimeoutUnit,
    H hours, M minutes, S seconds, m milliseconds, u microseconds, n nanoseconds."""
    assert h.parse_timeout(value) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize(
    "value",
    [b"", b"S", b"1", b"10", b"1s", b"1h", b"1x", b"-1S", b"+1S", b"1.5S", b" 1S", b"1S ", b"123456789S", b"0x1S"],
)
def test_parse_timeout_malformed(value: bytes) -> None:
    """gRPC over HTTP/2, Timeout: anything but 1-8 digits and one of 'HMSmun' is malformed."""
    assert h.parse_timeout(value) is None


def test_metadata_fields() -> None:
    """gRPC over HTTP/2, Custom-Metadata: keys lower-case; '-bin' values base64 (emitted
    unpadded), others as they are."""
    fields = h.metadata([("X-Key", "value"), ("x-data-bin", b"\x00\x01"), ("x-text-bin", "ab")])
    assert fields == [(b"x-key", b"value"), (b"x-data-bin", b"AAE"), (b"x-text-bin", b"YWI")]
    assert h.metadata(None) == []


def test_invocation_metadata() -> None:
    """gRPC over HTTP/2: the handler sees Custom-Metadata only (no pseudo-headers, nor
    content-type, te, grpc-timeout, grpc-encoding, grpc-accept-encoding), '-bin' values
    base64-decoded whether the client padded them or not."""
    request = [
        (b":method", b"POST"),
        (b":path", b"/a/b"),
        (b":authority", b"x"),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
        (b"grpc-timeout", b"1S"),
        (b"grpc-encoding", b"identity"),
        (b"grpc-accept-encoding", b"identity"),
        (b"user-agent", b"test"),
        (b"x-key", b"value"),
        (b"x-padded-bin", base64.b64encode(b"\x00\x01")),
        (b"x-unpadded-bin", base64.b64encode(b"\xfe").rstrip(b"=")),
        (b"x-key", b"second"),
    ]
    assert h.invocation_metadata(request) == (
        ("user-agent", "test"),
        ("x-key", "value"),
        ("x-padded-bin", b"\x00\x01"),
        ("x-unpadded-bin", b"\xfe"),
        ("x-key", "second"),
    )


def test_metadata_round_trip() -> None:
    """gRPC over HTTP/2, Custom-Metadata: what `metadata` encodes `invocation_metadata` reads back."""
    pairs = (("x-a", "1"), ("x-b-bin", b"\x00" * 7), ("x-c-bin", b""), ("x-d-bin", b"\xff\xfe\xfd"))
    assert h.invocation_metadata(h.metadata(pairs)) == pairs


# -- RequestHeaderDecoder


def decoded(decoder: h.RequestHeaderDecoder, block: bytes) -> list[tuple[bytes, bytes]]:
    fields, size = decoder.decode(block)
    assert size == sum(len(n) + len(v) + 32 for n, v in fields)  # RFC 9113 section 6.5.2
    return [(bytes(n), bytes(v)) for n, v in fields]


def test_decoder_same_bytes_after_table_change() -> None:
    """RFC 7541 section 2.3.3 / 6.1: an indexed field means the dynamic-table entry at that
    index *now*; the same bytes after new insertions name a different field."""
    encoder = hpack.Encoder()
    decoder = h.RequestHeaderDecoder(65_536)
    first = encoder.encode([(b"x-a", b"1")])  # literal with incremental indexing: index 62
    again = encoder.encode([(b"x-a", b"1")])  # indexed 62
    assert decoded(decoder, first) == [(b"x-a", b"1")]
    assert decoded(decoder, again) == [(b"x-a", b"1")]
    assert decoded(decoder, again) == [(b"x-a", b"1")]  # from the cache
    assert decoded(decoder, encoder.encode([(b"x-b", b"2")])) == [(b"x-b", b"2")]  # x-b is 62 now
    same = encoder.encode([(b"x-b", b"2")])
    assert same == again  # the same bytes ...
    assert decoded(decoder, same) == [(b"x-b", b"2")]  # ... mean the new entry


def test_decoder_repeated_block_that_inserts() -> None:
    """RFC 7541 section 6.2.1: every literal with incremental indexing inserts its field into
    the dynamic table, also when the same block comes twice; later indexed fields must then
    name what the encoder inserted (checked against `hpack.Decoder`)."""
    older = b"\x40\x03x-z\x011"  # literal, incremental indexing, new name: 'x-z: 1'
    block = b"\x40\x03x-k\x01v"  # 'x-k: v', the same bytes twice: two entries
    indexed = bytes((0x80 | 63,))  # dynamic index 63: the second newest entry
    ours = h.RequestHeaderDecoder(65_536)
    reference = hpack.Decoder()
    for b in (older, block, block, indexed):
        expected = [(bytes(n), bytes(v)) for n, v in reference.decode(b, raw=True)]
        assert decoded(ours, b) == expected
    assert expected == [(b"x-k", b"v")]


def test_decoder_table_size_update_each_time() -> None:
    """RFC 7541 section 4.2 / 6.3: a dynamic table size update at the start of a block
    evicts entries every time it comes, so an index into the emptied table is an error
    (RFC 9113 section 4.3: COMPRESSION_ERROR)."""
    insert = b"\x40\x03x-a\x011"
    shrink_then_grow = b"\x20\x3f\xe1\x1f\x82"  # size 0, size 4096, ':method: GET'
    decoder = h.RequestHeaderDecoder(65_536)
    for _ in range(2):
        assert decoded(decoder, insert) == [(b"x-a", b"1")]
        assert decoded(decoder, b"\xbe") == [(b"x-a", b"1")]
        assert decoded(decoder, shrink_then_grow) == [(b":method", b"GET")]
        with pytest.raises(ConnectionProtocolError) as err:
            decoder.decode(b"\xbe")
        assert err.value.code == frames.COMPRESSION_ERROR


def test_decoder_bad_block_is_compression_error() -> None:
    """RFC 9113 section 4.3: a header block that cannot be decoded is a connection error of
    type COMPRESSION_ERROR."""
    decoder = h.RequestHeaderDecoder(65_536)
    for block in (b"\xff\xff\xff\xff\xff\xff\xff", b"\xbe", b"\x40\x05ab"):
        with pytest.raises(ConnectionProtocolError) as err:
            decoder.decode(block)
        assert err.value.code == frames.COMPRESSION_ERROR


def test_decoder_matches_hpack_on_an_encoder_stream() -> None:
    """RFC 7541: on a stream of blocks from a conforming encoder (`hpack.Encoder`: indexing,
    evictions, table size updates, repeated requests) the cached decoder gives what the
    reference decoder gives, block by block."""
    rng = random.Random(7541)
    paths = [b"/etcdserverpb.KV/Range", b"/etcdserverpb.KV/Put", b"/etcdserverpb.Watch/Watch", b"/x/" + b"p" * 300]
    encoder = hpack.Encoder()
    reference = hpack.Decoder()
    ours = h.RequestHeaderDecoder(65_536)
    for i in range(600):
        if i % 97 == 50:
            size = rng.choice([0, 64, 256, 1024, 4096])
            encoder.header_table_size = size
        fields = [
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", rng.choice(paths)),
            (b":authority", b"127.0.0.1:2379"),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
        ]
        if rng.random() < 0.3:
            fields.append((b"grpc-timeout", b"%dm" % rng.randrange(1, 20)))
        if rng.random() < 0.2:
            fields.append((b"x-token", b"t" * rng.randrange(1, 200)))
        block = encoder.encode(fields)
        expected = [(bytes(n), bytes(v)) for n, v in reference.decode(block, raw=True)]
        assert decoded(ours, block) == expected == fields, f"block {i}"


def test_decoder_cache_bounded() -> None:
    """The block cache serves gRPC's repeated blocks but holds little whatever a client
    sends: at most 256 blocks of at most 512 bytes (before, 512 of up to 64 KiB each let a
    client sending ever different blocks grow the server by hundreds of MB)."""
    decoder = h.RequestHeaderDecoder(65_536)
    repeated = h.encode([(b":path", b"/etcdserverpb.KV/Range"), (b"te", b"trailers")])
    first, _ = decoder.decode(repeated)
    assert decoder.decode(repeated)[0] is first  # looked up, not decoded again
    for n in range(10_000):  # literals without indexing: the table never changes
        block = h.encode([(b"x-n", b"%d" % n), (b"x-pad", b"p" * (n % 400))])
        assert decoded(decoder, block) == [(b"x-n", b"%d" % n), (b"x-pad", b"p" * (n % 400))]
        assert len(decoder._cache) <= 256
        assert sum(len(b) for b in decoder._cache) <= 256 * 512
    big = h.encode([(b"x-big", b"b" * 600)])
    assert decoder.decode(big)[0] is not decoder.decode(big)[0]  # over 512 bytes: never cached
    again, _ = decoder.decode(repeated)
    assert decoder.decode(repeated)[0] is again


def test_decoder_hard_cap() -> None:
    """RFC 7541 section 7.3 / RFC 9113 section 10.5.1: a list that decodes past the decoder's
    cap stops it mid-block (its table may no longer be the client's): a connection error,
    ENHANCE_YOUR_CALM, naming max_header_block_size; a list of exactly the cap decodes."""
    fields = [(b"x-a", b"v" * (1000 - 3 - 32))]
    assert h.RequestHeaderDecoder(1000).decode(h.encode(fields))[1] == 1000
    with pytest.raises(ConnectionProtocolError) as err:
        h.RequestHeaderDecoder(999).decode(h.encode(fields))
    assert err.value.code == frames.ENHANCE_YOUR_CALM and err.value.limit == "header_block_size"
