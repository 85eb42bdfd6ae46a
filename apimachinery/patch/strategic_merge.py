"""Strategic merge patch (`application/strategic-merge-patch+json`) for the built-in kinds.

A strategic merge patch looks like a merge patch (RFC 7386: maps merge, `null` deletes a key),
but lists follow the kind's schema (`apimachinery.kinds.merge_keys`): a list tagged `merge` with
a merge key merges element by element on that key, a primitive list tagged `merge` is a set
union, and every other list is replaced. Directives steer the merge:

- `{"$patch": "replace"}` in a map: the map replaces the original instead of merging;
  as a list element: the list (less the directive) replaces the original list.
- `{"$patch": "delete"}` in a map: the map becomes `{}`; as a list element with the merge key
  (`{"name": "sidecar", "$patch": "delete"}`): every element with that key is removed.
- `"$retainKeys": [...]` in a map: keys of the original not listed are cleared first.
- `"$deleteFromPrimitiveList/<field>": [...]`: remove those values from a primitive list.
- `"$setElementOrder/<field>": [...]`: the order of the merged list (elements named by key).

Worked example (containers merge by `name`, a container's `env` by `name`):

    >>> from apimachinery.kinds.merge_keys import SCHEMAS
    >>> pod = {"spec": {"containers": [{"name": "app", "image": "app:1"}, {"name": "log", "image": "log:1"}]}}
    >>> patch = {"spec": {"containers": [{"name": "app", "image": "app:2"}, {"name": "log", "$patch": "delete"}]}}
    >>> strategic_merge_patch(pod, patch, SCHEMAS[("", "Pod")])
    {'spec': {'containers': [{'name': 'app', 'image': 'app:2'}]}}

Behaviour follows k8s.io/apimachinery pkg/util/strategicpatch (`StrategicMergeMapPatch` with
MergeParallelList and IgnoreUnmatchedNulls) and kube-apiserver's error mapping
(`interpretStrategicMergePatchError`): malformed directives are 400 BadRequest, a list of lists
is 422 Invalid, and the errors the server passes through unmapped (an unknown `$patch` value, an
element without its merge key, a `$setElementOrder` that contradicts the patch) are 500.
Custom resources have no Go struct tags, so kube-apiserver refuses the content type with 415.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Hashable
from typing import Any

from apimachinery.errors import BadRequestError, InternalError, InvalidError, UnsupportedMediaTypeError
from apimachinery.kinds.merge_keys import MERGE, REPLACE, FieldMeta, Schema, schema_for
from apimachinery.patch.json_patch import REJECTED_MESSAGE

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"

ERR_PRIMITIVE_LIST = "invalid patch format of primitive list"
ERR_RETAIN_KEYS = "invalid patch format of retainKeys"
ERR_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"

CUSTOM_RESOURCE_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)
"""The patch types the apiextensions-apiserver accepts for a custom resource (no strategic merge)."""

_NO_META = FieldMeta()
_MISSING = object()


def strategic_merge_patch(original: dict[str, Any], patch: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """Apply `patch` to `original` under `schema`; the arguments are not changed."""
    return _merge_map(copy.deepcopy(original), copy.deepcopy(patch), schema)


def strategic_merge_for_kind(group: str, kind: str, original: dict[str, Any], patch: Any) -> dict[str, Any]:
    """As kube-apiserver: 415 for a kind without a schema (a custom resource), 400 for a non-object."""
    schema = schema_for(group, kind)
    if schema is None:
        raise UnsupportedMediaTypeError(
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(CUSTOM_RESOURCE_PATCH_TYPES)
        )
    if not isinstance(patch, dict):
        raise BadRequestError(f"a strategic merge patch must be a JSON object, not {type(patch).__name__}")
    return strategic_merge_patch(original, patch, schema)


# ---- maps ---------------------------------------------------------------------------------------


def _merge_map(original: dict[str, Any], patch: dict[str, Any], schema: Schema) -> dict[str, Any]:
    """Merge `patch` into `original` (both private copies, changed in place)."""
    if DIRECTIVE in patch:
        directive = patch.pop(DIRECTIVE)
        if directive == REPLACE:
            return _merge_map({}, patch, schema)  # the patch, with its own directives resolved
        if directive == "delete":
            return {}
        raise InternalError(f"unknown patch type: {directive} in map: {_show(patch)}")
    _retain_keys(original, patch)
    _set_element_orders(original, patch, schema)
    for key, value in patch.items():
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            _delete_from_primitive_list(original, key.removeprefix(DELETE_FROM_PRIMITIVE_LIST), value)
        elif key.startswith("$"):
            continue  # $setElementOrder (done above) or an unknown directive the typed decode would drop
        elif value is None:
            original.pop(key, None)
        else:
            original[key] = _merge_value(original.get(key, _MISSING), value, schema.get(key, _NO_META))
    return original


def _merge_value(current: Any, value: Any, meta: FieldMeta) -> Any:
    if isinstance(value, dict):
        if meta.strategy == REPLACE or not isinstance(current, dict):
            return _merge_map({}, value, meta.fields)
        return _merge_map(current, value, meta.fields)
    if isinstance(value, list):
        return _merge_list(current if isinstance(current, list) else [], value, meta)
    return value


def _retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    """`$retainKeys`: every non-null patch key must be listed; unlisted original keys are cleared."""
    if RETAIN_KEYS not in patch:
        return
    keys = patch.pop(RETAIN_KEYS)
    if not isinstance(keys, list):
        raise BadRequestError(ERR_RETAIN_KEYS)
    keep = {k for k in keys if isinstance(k, str)}
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
            continue
        if key not in keep:
            raise BadRequestError(ERR_RETAIN_KEYS)
    for key in [k for k in original if k not in keep]:
        del original[key]


def _delete_from_primitive_list(original: dict[str, Any], field: str, values: Any) -> None:
    if not isinstance(values, list):
        raise BadRequestError(ERR_PRIMITIVE_LIST)
    current = original.get(field)
    if isinstance(current, list):
        doomed = {_scalar_key(v) for v in values if not isinstance(v, dict | list)}
        original[field] = [v for v in current if isinstance(v, dict | list) or _scalar_key(v) not in doomed]


# ---- lists --------------------------------------------------------------------------------------


def _merge_list(original: list[Any], patch: list[Any], meta: FieldMeta) -> list[Any]:
    if meta.strategy != MERGE:
        return patch
    if not original and not patch:
        return original
    element = _element_kind(original + patch)
    if element != "map":
        merged = _unique(original + patch)
        return _order(merged, patch, original, _scalar_key)
    if not meta.merge_key:
        raise InternalError("cannot merge lists without merge key")
    key_of = _merge_key_of(meta.merge_key)
    original, patch = _special_elements(original, patch, meta.merge_key)
    server = list(original)  # the live order, before new elements are appended
    for item in patch:
        _require_key(item, meta.merge_key)
        index = _find(original, key_of(item), key_of)
        if index is None:
            original.append(_merge_map({}, item, meta.fields))
        else:
            original[index] = _merge_map(original[index], item, meta.fields)
    return _order(original, patch, server, key_of)


def _special_elements(original: list[Any], patch: list[Any], merge_key: str) -> tuple[list[Any], list[Any]]:
    """Resolve `$patch` elements: delete by key, or replace the whole list."""
    plain: list[Any] = []
    replace = False
    for item in patch:
        if DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise InternalError("delete patch type with no merge key defined")
            doomed = _scalar_key(item[merge_key])
            original = [e for e in original if _scalar_key(e.get(merge_key)) != doomed]
        elif directive == REPLACE:
            replace = True
        elif directive == MERGE:
            raise InternalError("merging lists cannot yet be specified in the patch")
        else:
            raise InternalError(f"unknown patch type: {directive} in map: {_show(item)}")
    if replace:
        return [], plain
    return original, plain


def _set_element_orders(original: dict[str, Any], patch: dict[str, Any], schema: Schema) -> None:
    """`$setElementOrder/<field>`: merge that field's list now, then order it as the directive says."""
    for directive_key in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive_key)
        field = directive_key.removeprefix(SET_ELEMENT_ORDER)
        if not isinstance(order, list):
            raise BadRequestError(ERR_SET_ELEMENT_ORDER)
        meta = schema.get(field, _NO_META)
        current, incoming = original.get(field, _MISSING), patch.pop(field, _MISSING)
        if current is _MISSING and incoming is _MISSING:
            continue
        if any(v is not _MISSING and not isinstance(v, list) for v in (current, incoming)):
            raise BadRequestError(ERR_SET_ELEMENT_ORDER)
        server = current if isinstance(current, list) else []
        key_of = _merge_key_of(meta.merge_key) if meta.merge_key else _scalar_key
        if isinstance(incoming, list):
            _check_order(incoming, order, key_of, meta.merge_key)
            merged = _merge_list(list(server), incoming, meta)
        else:
            merged = server
        original[field] = _order(merged, order, server, key_of)


def _check_order(patch: list[Any], order: list[Any], key_of: Callable[[Any], Hashable], merge_key: str) -> None:
    """Every (non-directive) patch element appears in the order list, in the same relative order."""
    wanted = [p for p in patch if not (isinstance(p, dict) and DIRECTIVE in p)]
    if merge_key:
        for item in (*wanted, *order):
            _require_key(item, merge_key)
    position = 0
    for item in wanted:
        keys = [key_of(o) for o in order[position:]]
        if key_of(item) not in keys:
            raise InternalError(
                f"The order in patch list: {_show(patch)} doesn't match $setElementOrder list: {_show(order)}"
            )
        position += keys.index(key_of(item)) + 1


# ---- ordering -----------------------------------------------------------------------------------


def _order(
    merged: list[Any], patch_order: list[Any], server_order: list[Any], key_of: Callable[[Any], Hashable]
) -> list[Any]:
    """Patch elements in patch order, server-only elements slotted in by their original order.

    The precedence is the patch's order, then the live list's; the two sorted runs are woven
    together so a server-only element goes before the first patch element it preceded.
    """
    patch_keys = [key_of(p) for p in patch_order]
    server_keys = [key_of(s) for s in server_order]
    ours = [m for m in merged if key_of(m) in patch_keys]
    theirs = [m for m in merged if key_of(m) not in patch_keys]
    ours.sort(key=lambda m: _position(patch_keys, key_of(m)))
    theirs.sort(key=lambda m: _position(server_keys, key_of(m)))
    woven: list[Any] = []
    while ours or theirs:
        if not ours or (theirs and _before(key_of(theirs[0]), key_of(ours[0]), server_keys)):
            woven.append(theirs.pop(0))
        else:
            woven.append(ours.pop(0))
    return woven


def _before(left: Hashable, right: Hashable, server_keys: list[Hashable]) -> bool:
    return left in server_keys and right in server_keys and server_keys.index(left) < server_keys.index(right)


def _position(keys: list[Hashable], key: Hashable) -> int:
    return keys.index(key) if key in keys else len(keys)


# ---- element helpers ----------------------------------------------------------------------------


def _element_kind(items: list[Any]) -> str:
    kinds = {"map" if isinstance(i, dict) else "list" if isinstance(i, list) else "scalar" for i in items}
    if "list" in kinds:
        raise InvalidError(REJECTED_MESSAGE)  # ErrNoListOfLists: 422 via NewGenericServerResponse
    if len(kinds) > 1:
        raise InternalError("list elements are of different types: maps mixed with scalars")
    return kinds.pop()


def _scalar_key(value: Any) -> Hashable:
    """A hashable identity for a JSON scalar that keeps `true` apart from `1`."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, dict | list):
        return ("json", json.dumps(value, sort_keys=True))
    return (type(value).__name__, value)


def _merge_key_of(merge_key: str) -> Callable[[Any], Hashable]:
    def key_of(item: Any) -> Hashable:
        return _scalar_key(item.get(merge_key)) if isinstance(item, dict) else _scalar_key(item)

    return key_of


def _require_key(item: Any, merge_key: str) -> None:
    if not isinstance(item, dict) or merge_key not in item:
        raise InternalError(f"map: {_show(item)} does not contain declared merge key: {merge_key}")


def _find(items: list[Any], key: Hashable, key_of: Callable[[Any], Hashable]) -> int | None:
    return next((i for i, item in enumerate(items) if key_of(item) == key), None)


def _unique(items: list[Any]) -> list[Any]:
    seen: set[Hashable] = set()
    out = []
    for item in items:
        if _scalar_key(item) not in seen:
            seen.add(_scalar_key(item))
            out.append(item)
    return out


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


__all__ = [
    "CUSTOM_RESOURCE_PATCH_TYPES",
    "DELETE_FROM_PRIMITIVE_LIST",
    "DIRECTIVE",
    "RETAIN_KEYS",
    "SET_ELEMENT_ORDER",
    "strategic_merge_for_kind",
    "strategic_merge_patch",
]
