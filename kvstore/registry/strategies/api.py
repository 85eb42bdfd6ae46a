"""The seam between the registry and what is particular to one resource (kube's REST strategy).

The registry asks the strategy of the resource being written, in this order:

    create:  prepare_for_create -> validate        -> canonicalize -> write -> after_create
    update:  prepare_for_update -> validate_update -> canonicalize -> write -> after_update
    /status: prepare_for_status_update -> validate_update -> canonicalize -> ...
    delete:  delete_ops (what the transaction removes)             -> write -> after_delete
             (also an update leaving no finalizer on an object being deleted)

prepare_*, validate*, canonicalize and delete_ops decide only (no I/O; the registry writes
what they return); the after_* hooks run once the write has succeeded, to keep in-memory
state in step with the store (a CRD's served resources).
"""

from __future__ import annotations

from typing import Any, Protocol

from apimachinery.errors import FieldError
from apimachinery.schema import ResourceInfo
from kvstore.messages import RequestOp


class Strategy(Protocol):
    """Per-resource decisions before a write and hooks after it."""

    @property
    def info(self) -> ResourceInfo:
        """The served resource this strategy is for."""

    def prepare_for_create(self, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
        """The object to store for a create (a new dict): identity, timestamps, generation 1."""

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """The object to store for an update of the main resource (a new dict)."""

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """The object to store for an update of the `status` subresource (a new dict)."""

    def validate(self, obj: dict[str, Any]) -> list[FieldError]:
        """Every error of a new object (empty: it may be stored)."""

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
        """Every error of an update from `old` to `new`."""

    def canonicalize(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The valid object in the form to store (after validation passed, as kube's Canonicalize)."""

    def delete_ops(self, key: bytes, obj: dict[str, Any]) -> list[RequestOp]:
        """The operations of the transaction deleting `key`, whose last state is `obj`."""

    def after_create(self, obj: dict[str, Any]) -> None:
        """`obj` was created."""

    def after_update(self, obj: dict[str, Any]) -> None:
        """`obj` was written by an update (not by a delete marking it)."""

    def after_delete(self, obj: dict[str, Any]) -> None:
        """`obj` (its last state) was deleted."""
