"""Store errors survive the trip through a gRPC status, for our client and for etcd's."""

from __future__ import annotations

import grpc

from kvstore import errors as e
from kvstore.rpc.status import from_status, to_status


def test_every_error_is_rebuilt_with_its_details() -> None:
    """Our client raises the same class with the same attributes as the embedded store."""
    samples = [
        e.CompactedError(7),
        e.FutureRevisionError(9, 4),
        e.InvalidArgumentError("revision is out of the int64 range", "revision"),
        e.EmptyKeyError(),
        e.RequestTooLargeError(2_000_000, 1_572_864),
        e.TooManyOpsError(129, 128, "success"),
        e.DuplicateKeyError(b"\x00k\xff"),
        e.KeyNotFoundError(b"k"),
        e.ValueProvidedError(),
        e.LeaseProvidedError(),
        e.LeaseNotFoundError(42),
        e.LeaseExistsError(42),
        e.LeaseTTLTooLargeError(10**10, 9 * 10**9),
    ]
    for err in samples:
        code, message, trailers = to_status(err)
        back = from_status(code, message, trailers)
        assert type(back) is type(err) and back.details() == err.details() and str(back) == str(err)


def test_codes_and_messages_are_etcds() -> None:
    """etcd's clients key on the code and text: OutOfRange for compaction, and so on."""
    assert to_status(e.CompactedError(3))[:2] == (
        grpc.StatusCode.OUT_OF_RANGE,
        "etcdserver: mvcc: required revision has been compacted",
    )
    assert to_status(e.LeaseNotFoundError(1))[:2] == (
        grpc.StatusCode.NOT_FOUND,
        "etcdserver: requested lease not found",
    )
    assert to_status(e.TooManyOpsError(200, 128))[0] == grpc.StatusCode.INVALID_ARGUMENT


def test_errors_from_a_real_etcd_are_recognised_by_their_text() -> None:
    """Without our trailer (a real etcd), the class comes from etcd's message text."""
    err = from_status(grpc.StatusCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision")
    assert isinstance(err, e.FutureRevisionError)
    err = from_status(grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: something new")
    assert isinstance(err, e.InvalidArgumentError) and str(err) == "etcdserver: something new"
    err = from_status(grpc.StatusCode.PERMISSION_DENIED, "etcdserver: permission denied")
    assert type(err) is e.KVError and err.grpc_code == "PERMISSION_DENIED"
