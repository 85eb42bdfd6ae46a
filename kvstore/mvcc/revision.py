"""Revision encodings: the LMDB history key and the in-memory index integer.

A revision is (main, sub): main counts committed write transactions, sub numbers the
changes inside one. On disk the history key is 16 bytes, big-endian main then sub, so
LMDB's byte order is revision order. In memory a revision is one int,
``main << 33 | sub << 1 | tombstone``: ordered like (main, sub), with the tombstone flag
in the lowest bit.
"""

from __future__ import annotations

import struct

_KEY = struct.Struct(">QQ")
MAIN_SHIFT = 33
SUB_SHIFT = 1
SUB_MASK = (1 << 32) - 1
MAX_SUB = SUB_MASK

pack_key = _KEY.pack
unpack_key = _KEY.unpack


def rev_key(main: int, sub: int = 0) -> bytes:
    """The history key of revision (main, sub)."""
    return _KEY.pack(main, sub)


def to_int(main: int, sub: int, tombstone: bool = False) -> int:
    return (main << MAIN_SHIFT) | (sub << SUB_SHIFT) | int(tombstone)


def main_of(rev: int) -> int:
    return rev >> MAIN_SHIFT


def sub_of(rev: int) -> int:
    return (rev >> SUB_SHIFT) & SUB_MASK


def is_tombstone(rev: int) -> bool:
    return bool(rev & 1)


def key_of_int(rev: int) -> bytes:
    """The history key of an index revision int."""
    return _KEY.pack(rev >> MAIN_SHIFT, (rev >> SUB_SHIFT) & SUB_MASK)


def upper_bound(main: int) -> int:
    """The smallest index int with a main revision above `main`."""
    return (main + 1) << MAIN_SHIFT
