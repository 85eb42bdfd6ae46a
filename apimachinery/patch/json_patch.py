"""JSON patch (RFC 6902, `application/json-patch+json`) over JSON pointers (RFC 6901).

A JSON patch is a list of operations applied in order: `add`, `remove`, `replace`, `move`,
`copy`, `test`. Each names a location with a JSON pointer: `/spec/containers/0/image`, where
`~1` stands for `/` and `~0` for `~` inside a name, and `-` is the end of an array (for `add`).
The patch is atomic: operations run on a private copy, and the first failure discards it.

    >>> doc = {"metadata": {"labels": {"app/name": "web"}}, "spec": {"ports": [80]}}
    >>> apply_operations(doc, [
    ...     {"op": "test", "path": "/metadata/labels/app~1name", "value": "web"},
    ...     {"op": "add", "path": "/spec/ports/-", "value": 443},
    ...     {"op": "move", "from": "/metadata/labels/app~1name", "path": "/metadata/labels/app"},
    ... ])
    {'metadata': {'labels': {'app': 'web'}}, 'spec': {'ports': [80, 443]}}

How kube-apiserver answers (k8s.io/apiserver pkg/endpoints/handlers/patch.go, `applyJSPatch`):
a body that does not decode as a list of operation objects is 400 BadRequest; more than 10000
operations is 413; an operation that fails (a `test` that does not match, a path that does not
exist, an unknown `op`) is `NewGenericServerResponse(422, ...)`: 422 `Invalid` with the generic
message "the server rejected our request due to an error in our request". The server drops the
detail; we keep it as the `JsonPatchError` chained under the `InvalidError` (`err.__cause__`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from apimachinery.errors import BadRequestError, InvalidError, RequestEntityTooLargeError

MAX_OPERATIONS = 10000
"""maxJSONPatchOperations in kube-apiserver."""

REJECTED_MESSAGE = "the server rejected our request due to an error in our request"
"""The message NewGenericServerResponse gives a 422 (the operation's own error is not shown)."""

_INDEX = re.compile(r"0|[1-9][0-9]*")


class JsonPatchError(ValueError):
    """One operation could not be applied; the message says which and why."""


def json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values (RFC 6902 section 4.6): numbers by value, `true` is not `1`."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def parse_pointer(pointer: str) -> list[str]:
    """The reference tokens of a JSON pointer (RFC 6901 sections 3-4), unescaped."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise JsonPatchError(f"JSON pointer {pointer!r} must be empty or start with '/'")
    tokens = pointer[1:].split("/")
    for token in tokens:
        if re.search(r"~(?![01])", token):
            raise JsonPatchError(f"JSON pointer {pointer!r} has a '~' not followed by '0' or '1'")
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def _index(token: str, array: list[Any], pointer: str, *, for_add: bool) -> int:
    """An array index (RFC 6901 section 4): digits without leading zeros, or `-` (the end)."""
    if token == "-":
        if for_add:
            return len(array)
        raise JsonPatchError(f"path {pointer!r}: '-' names no existing element")
    if not _INDEX.fullmatch(token):
        raise JsonPatchError(f"path {pointer!r}: {token!r} is not an array index")
    index = int(token)
    limit = len(array) if for_add else len(array) - 1
    if index > limit:
        raise JsonPatchError(f"path {pointer!r}: index {index} is out of range (length {len(array)})")
    return index


def _child(container: Any, token: str, pointer: str) -> Any:
    if isinstance(container, dict):
        if token not in container:
            raise JsonPatchError(f"path {pointer!r} does not exist: no member {token!r}")
        return container[token]
    if isinstance(container, list):
        return container[_index(token, container, pointer, for_add=False)]
    raise JsonPatchError(f"path {pointer!r} does not exist: {token!r} is under a scalar")


def resolve(doc: Any, pointer: str) -> Any:
    """The value a JSON pointer names in `doc` (JsonPatchError if it names nothing)."""
    value = doc
    for token in parse_pointer(pointer):
        value = _child(value, token, pointer)
    return value


def _parent(doc: Any, pointer: str) -> tuple[Any, str]:
    tokens = parse_pointer(pointer)
    parent = doc
    for token in tokens[:-1]:
        parent = _child(parent, token, pointer)
    return parent, tokens[-1]


def _add(doc: Any, pointer: str, value: Any) -> Any:
    if pointer == "":
        return value
    parent, token = _parent(doc, pointer)
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list):
        parent.insert(_index(token, parent, pointer, for_add=True), value)
    else:
        raise JsonPatchError(f"path {pointer!r}: cannot add under a scalar")
    return doc


def _remove(doc: Any, pointer: str) -> tuple[Any, Any]:
    """Remove the value at `pointer`; return (document, removed value)."""
    if pointer == "":
        raise JsonPatchError("cannot remove the whole document")
    parent, token = _parent(doc, pointer)
    if isinstance(parent, dict):
        if token not in parent:
            raise JsonPatchError(f"path {pointer!r} does not exist: no member {token!r}")
        return doc, parent.pop(token)
    if isinstance(parent, list):
        return doc, parent.pop(_index(token, parent, pointer, for_add=False))
    raise JsonPatchError(f"path {pointer!r} does not exist: {token!r} is under a scalar")


def _replace(doc: Any, pointer: str, value: Any) -> Any:
    if pointer == "":
        return value
    resolve(doc, pointer)  # the target must exist (RFC 6902 section 4.3)
    parent, token = _parent(doc, pointer)
    if isinstance(parent, list):
        parent[_index(token, parent, pointer, for_add=False)] = value
    else:
        parent[token] = value
    return doc


def _field(op: dict[str, Any], name: str) -> Any:
    if name not in op:
        raise JsonPatchError(f"operation {op.get('op')!r} is missing {name!r}")
    return op[name]


def _pointer(op: dict[str, Any], name: str) -> str:
    value = _field(op, name)
    if not isinstance(value, str):
        raise JsonPatchError(f"operation {op.get('op')!r}: {name!r} must be a string")
    return value


def _op_add(doc: Any, op: dict[str, Any]) -> Any:
    return _add(doc, _pointer(op, "path"), copy.deepcopy(_field(op, "value")))


def _op_remove(doc: Any, op: dict[str, Any]) -> Any:
    return _remove(doc, _pointer(op, "path"))[0]


def _op_replace(doc: Any, op: dict[str, Any]) -> Any:
    return _replace(doc, _pointer(op, "path"), copy.deepcopy(_field(op, "value")))


def _op_move(doc: Any, op: dict[str, Any]) -> Any:
    source, target = _pointer(op, "from"), _pointer(op, "path")
    if source == target:
        resolve(doc, source)
        return doc
    if target.startswith(source + "/"):
        raise JsonPatchError(f"cannot move {source!r} into its own child {target!r}")
    doc, value = _remove(doc, source)
    return _add(doc, target, value)


def _op_copy(doc: Any, op: dict[str, Any]) -> Any:
    value = copy.deepcopy(resolve(doc, _pointer(op, "from")))
    return _add(doc, _pointer(op, "path"), value)


def _op_test(doc: Any, op: dict[str, Any]) -> Any:
    path, expected = _pointer(op, "path"), _field(op, "value")
    if not json_equal(resolve(doc, path), expected):
        raise JsonPatchError(f"test failed: the value at {path!r} is not {expected!r}")
    return doc


_OPERATIONS: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "add": _op_add,
    "remove": _op_remove,
    "replace": _op_replace,
    "move": _op_move,
    "copy": _op_copy,
    "test": _op_test,
}


def apply_operations(doc: Any, operations: list[dict[str, Any]]) -> Any:
    """Apply RFC 6902 operations to a copy of `doc`; JsonPatchError on the first that fails."""
    result = copy.deepcopy(doc)
    for number, op in enumerate(operations):
        name = op.get("op")
        apply = _OPERATIONS.get(name) if isinstance(name, str) else None
        if apply is None:
            raise JsonPatchError(f"operation {number}: unknown op {name!r}")
        try:
            result = apply(result, op)
        except JsonPatchError as err:
            raise JsonPatchError(f"operation {number} ({name}): {err}") from None
    return result


def parse_operations(body: Any) -> list[dict[str, Any]]:
    """Check the decoded body is a list of operation objects (400 / 413 as kube-apiserver)."""
    if not isinstance(body, list):
        raise BadRequestError(f"a JSON patch must be a list of operations, not {_json_type(body)}")
    for number, op in enumerate(body):
        if not isinstance(op, dict):
            raise BadRequestError(f"JSON patch operation {number} must be an object, not {_json_type(op)}")
    if len(body) > MAX_OPERATIONS:
        raise RequestEntityTooLargeError(
            "Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_OPERATIONS}, got {len(body)}"
        )
    return body


def json_patch(doc: Any, body: Any) -> Any:
    """Apply a decoded JSON patch body as kube-apiserver does; StatusError on failure."""
    operations = parse_operations(body)
    try:
        return apply_operations(doc, operations)
    except JsonPatchError as err:
        raise InvalidError(REJECTED_MESSAGE) from err


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an object" if isinstance(value, dict) else "an array"


__all__ = [
    "MAX_OPERATIONS",
    "REJECTED_MESSAGE",
    "JsonPatchError",
    "apply_operations",
    "json_equal",
    "json_patch",
    "parse_operations",
    "parse_pointer",
    "resolve",
]
