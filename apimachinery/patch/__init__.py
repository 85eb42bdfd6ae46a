"""The three patch types kube-apiserver accepts on PATCH, behind one function.

`apply_patch(patch_type, original, patch, group=..., kind=...)` decodes the body, applies it
to a deep copy of `original` and returns the patched object; `original` is never changed.
Failures are `apimachinery.errors.StatusError`s with the code and reason kube-apiserver gives:

| patch type | module | reference |
|---|---|---|
| `application/json-patch+json` | `json_patch` | RFC 6902 + RFC 6901 pointers |
| `application/merge-patch+json` | `merge_patch` | RFC 7386 |
| `application/strategic-merge-patch+json` | `strategic_merge` | k8s.io/apimachinery strategicpatch |

    >>> pod = {"metadata": {"name": "web", "labels": {"app": "web"}}}
    >>> apply_patch(PatchType.MERGE, pod, b'{"metadata": {"labels": {"tier": "front"}}}')
    {'metadata': {'name': 'web', 'labels': {'app': 'web', 'tier': 'front'}}}
    >>> apply_patch(PatchType.JSON, pod, '[{"op": "remove", "path": "/metadata/labels"}]')
    {'metadata': {'name': 'web'}}
    >>> pod["metadata"]["labels"]
    {'app': 'web'}
"""

from __future__ import annotations

import copy
import enum
import json
from typing import Any

from apimachinery.errors import BadRequestError, FieldError, InvalidError, UnsupportedMediaTypeError, invalid
from apimachinery.patch.json_patch import json_patch as _apply_json_patch
from apimachinery.patch.merge_patch import merge_patch as _apply_merge_patch
from apimachinery.patch.strategic_merge import strategic_merge_for_kind


class PatchType(enum.StrEnum):
    """types.PatchType: the Content-Type of a PATCH request body."""

    JSON = "application/json-patch+json"
    MERGE = "application/merge-patch+json"
    STRATEGIC_MERGE = "application/strategic-merge-patch+json"


def decode_body(patch: bytes | str | dict[str, Any] | list[Any]) -> Any:
    """The JSON value of a patch body (a private copy when given decoded); 400 if it is not JSON."""
    if isinstance(patch, dict | list):
        return copy.deepcopy(patch)
    try:
        return json.loads(patch, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as err:
        raise BadRequestError(f"error decoding patch: {err}") from err


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def apply_patch(
    patch_type: PatchType | str,
    original: dict[str, Any],
    patch: bytes | str | dict[str, Any] | list[Any],
    *,
    group: str = "",
    kind: str = "",
) -> dict[str, Any]:
    """Apply a patch of `patch_type` to a copy of `original` (an object of `group`/`kind`)."""
    try:
        kind_of_patch = PatchType(patch_type)
    except ValueError:
        raise UnsupportedMediaTypeError(
            "the body of the request was in an unknown format - accepted media types include: " + ", ".join(PatchType)
        ) from None
    body = decode_body(patch)
    if kind_of_patch is PatchType.JSON:
        result = _apply_json_patch(original, body)
    elif kind_of_patch is PatchType.MERGE:
        result = _merge(original, body)
    else:
        result = strategic_merge_for_kind(group, kind, original, body)
    if not isinstance(result, dict):
        raise _not_an_object(result)
    return result


def _merge(original: dict[str, Any], body: Any) -> Any:
    """jsonpatch.MergePatch as kube-apiserver calls it: null or a scalar body is 400."""
    if body is None or not isinstance(body, dict | list):
        raise BadRequestError("Invalid JSON Patch")
    return _apply_merge_patch(copy.deepcopy(original), body)


def _not_an_object(result: Any) -> InvalidError:
    """The patched document must still decode as an object (422 on the `patch` field)."""
    error: FieldError = invalid("patch", json.dumps(result), "the patched document is not a JSON object")
    return InvalidError(f"patch: {error.message}", errors=[error])


__all__ = ["PatchType", "apply_patch", "decode_body"]
