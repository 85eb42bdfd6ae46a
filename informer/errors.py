"""Errors of the informer layer (client-go tools/cache).

Every error raised on purpose by `informer/` derives from `InformerError`, so a caller can
catch the layer's failures in one clause. Each one carries what a caller needs to act:
`KeyFuncError.obj` is the object no key could be computed for.

  * `KeyFuncError` (client-go `cache.KeyError{Obj, Err}`): a key function could not key an
    object; raised by `meta_namespace_key_func` and every store or queue method that keys one.
  * `IndexNotFoundError` (client-go "Index with name %s does not exist"): `Indexer.index`,
    `index_keys` and `by_index` were given an unknown index name.
  * `FIFOClosedError` (client-go `ErrFIFOClosed`): `DeltaFIFO.pop` on a closed, empty queue.
"""

from __future__ import annotations

from typing import Any


class InformerError(Exception):
    """Base class of the errors the informer layer raises."""


class KeyFuncError(InformerError):
    """No key could be computed for `obj` (client-go's `KeyError`).

    The underlying cause, when there is one, is chained as `__cause__` and kept in `err`.
    """

    def __init__(self, obj: Any, reason: str, err: BaseException | None = None) -> None:
        self.obj = obj
        """The object that could not be keyed."""
        self.reason = reason
        """Why, in words."""
        self.err = err
        """The exception that made the key function fail, if any."""
        super().__init__(f"couldn't create key for object {obj!r}: {reason}")


class IndexNotFoundError(InformerError, LookupError):
    """An `Indexer` was asked about an index name it does not have."""

    def __init__(self, index_name: str) -> None:
        self.index_name = index_name
        """The unknown index name."""
        super().__init__(f"index with name {index_name!r} does not exist")


class FIFOClosedError(InformerError):
    """The queue was closed and holds nothing more to pop (client-go's `ErrFIFOClosed`)."""

    def __init__(self) -> None:
        super().__init__("DeltaFIFO: manipulating with closed queue")
