"""JSON merge patch (RFC 7386, `application/merge-patch+json`).

A merge patch is a JSON document that looks like the target: an object merges member by member,
`null` deletes a member, and any other value (arrays included) replaces what was there.
kube-apiserver applies it to every kind, built-in or custom. The function here is pure: it builds
a new value and never changes its arguments.

    >>> merge_patch({"a": "b", "c": {"d": "e", "f": "g"}}, {"a": "z", "c": {"f": None}})
    {'a': 'z', 'c': {'d': 'e'}}
    >>> merge_patch({"tags": ["x", "y"]}, {"tags": ["z"]})   # arrays replace whole
    {'tags': ['z']}
"""

from __future__ import annotations

import copy
from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 section 2 `MergePatch(Target, Patch)`, returning a new value."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


__all__ = ["merge_patch"]
