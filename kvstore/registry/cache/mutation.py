"""The watch cache's mutation detector (client-go's cache mutation detector, server side).

Objects in the cache are shared with every reader and must not be changed. With
`KVS_CACHE_MUTATION_DETECTOR=true` in the environment (or `CacheConfig(detect_mutations=
True)`), every decoded state is compared with its stored bytes when it leaves the cache
(replaced or deleted) and on `Registry.check_mutations()`; a difference is logged as
CRITICAL, recorded in `failures` (the test suite fails a test that adds to it) and raised
by `check_mutations()` as CacheMutationError.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from kvstore.errors import CacheMutationError
from kvstore.registry import codec
from kvstore.registry.cache.entry import Entry

ENV = "KVS_CACHE_MUTATION_DETECTOR"
log = logging.getLogger("kvstore.registry.cache")

failures: list[CacheMutationError] = []
"""Every mutation found in this process, oldest first."""


def enabled_by_environment() -> bool:
    return os.environ.get(ENV, "").lower() in ("1", "true", "yes")


def check(entry: Entry, resource: str) -> CacheMutationError | None:
    """Whether the decoded state of `entry` still equals its stored bytes; the error if not."""
    if not entry.decoded:
        return None
    fresh = codec.decode(entry.value, entry.revision, entry.api_version)
    got = entry.obj()
    if got == fresh:
        return None
    err = CacheMutationError(resource, entry.key.decode("utf-8", "replace"), _diff(fresh, got))
    failures.append(err)
    log.critical("%s", err)
    return err


def _diff(want: Any, got: Any, path: str = "") -> str:
    """The first path where `got` differs from `want`, readably."""
    if isinstance(want, dict) and isinstance(got, dict):
        for k in sorted(set(want) | set(got), key=str):
            if k not in got:
                return f"{path}.{k} removed (was {want[k]!r})"
            if k not in want:
                return f"{path}.{k} added ({got[k]!r})"
            if want[k] != got[k]:
                return _diff(want[k], got[k], f"{path}.{k}")
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (a, b) in enumerate(zip(want, got, strict=True)):
            if a != b:
                return _diff(a, b, f"{path}[{i}]")
    return f"{path or '.'}: {want!r} became {got!r}"
