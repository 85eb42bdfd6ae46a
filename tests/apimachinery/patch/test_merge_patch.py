"""JSON merge patch (RFC 7386), through `merge_patch` and `apply_patch`."""

from __future__ import annotations

import contextlib
import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apimachinery.errors import BadRequestError, InvalidError, StatusError
from apimachinery.patch import PatchType, apply_patch
from apimachinery.patch.json_patch import json_equal
from apimachinery.patch.merge_patch import merge_patch

# RFC 7386 Appendix A, row by row: (original, patch, result).
APPENDIX_A: list[tuple[Any, Any, Any]] = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "result"), APPENDIX_A)
def test_rfc7386_appendix_a(original: Any, patch: Any, result: Any) -> None:
    """RFC 7386 Appendix A: every example of the specification, as a table."""
    before = copy.deepcopy(original)
    assert merge_patch(original, patch) == result
    assert original == before


def test_apply_patch_merges_an_object() -> None:
    """RFC 7386 section 1: objects merge recursively, null removes, arrays replace whole."""
    pod = {"metadata": {"name": "web", "labels": {"a": "1", "b": "2"}}, "spec": {"args": ["x", "y"]}}
    patch = b'{"metadata": {"labels": {"a": null, "c": "3"}}, "spec": {"args": ["z"]}}'
    result = apply_patch(PatchType.MERGE, pod, patch)
    assert result == {"metadata": {"name": "web", "labels": {"b": "2", "c": "3"}}, "spec": {"args": ["z"]}}


def test_result_does_not_share_structure_with_original() -> None:
    """apply_patch works on a deep copy: changing the result leaves the original alone."""
    pod = {"metadata": {"labels": {"a": "1"}}, "spec": {"x": {"y": 1}}}
    result = apply_patch(PatchType.MERGE, pod, {"metadata": {"labels": {"b": "2"}}})
    result["spec"]["x"]["y"] = 2
    assert pod["spec"]["x"]["y"] == 1


@pytest.mark.parametrize("body", [b"null", b'"text"', b"3", b"{not json"])
def test_non_object_body_is_bad_request(body: bytes) -> None:
    """kube-apiserver: jsonpatch.MergePatch's ErrBadJSONPatch (or a decode error) is 400 BadRequest."""
    with pytest.raises(BadRequestError) as info:
        apply_patch(PatchType.MERGE, {"a": 1}, body)
    assert info.value.code == 400


def test_array_body_is_invalid() -> None:
    """kube-apiserver: an array body replaces the object, which then fails to decode: 422 Invalid."""
    with pytest.raises(InvalidError) as info:
        apply_patch(PatchType.MERGE, {"a": 1}, b"[1]")
    assert info.value.code == 422


# ---- property: the diff of two objects, applied as a merge patch, turns one into the other -------

_scalars = st.one_of(
    st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(st.one_of(inner, st.none()), max_size=3),
        st.dictionaries(st.text(max_size=4), inner, max_size=4),
    ),
    max_leaves=12,
)
_objects = st.dictionaries(st.text(max_size=4), _values, max_size=5)


def diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """A merge patch taking `a` to `b` (b holds no null inside an object: RFC 7386 section 3)."""
    patch: dict[str, Any] = {key: None for key in a if key not in b}
    for key, value in b.items():
        if key in a and isinstance(a[key], dict) and isinstance(value, dict):
            sub = diff(a[key], value)
            if sub:
                patch[key] = sub
        elif key not in a or not json_equal(a[key], value):
            patch[key] = value
    return patch


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@given(_objects, _objects)
def test_merge_patch_of_diff_turns_one_object_into_the_other(a: dict[str, Any], b: dict[str, Any]) -> None:
    """RFC 7386: a merge patch can express any change between objects without nulls inside them."""
    before = _canonical(a)
    result = apply_patch(PatchType.MERGE, a, diff(a, b))
    assert _canonical(result) == _canonical(b)
    assert _canonical(a) == before


@given(_objects, _objects)
def test_apply_patch_never_mutates_its_inputs(original: dict[str, Any], patch: dict[str, Any]) -> None:
    """apply_patch deep-copies: neither the original nor a decoded patch changes, for any patch type."""
    saved_original, saved_patch = _canonical(original), _canonical(patch)
    for patch_type, kind in ((PatchType.MERGE, ""), (PatchType.STRATEGIC_MERGE, "Pod")):
        with contextlib.suppress(StatusError):  # a strategic directive may be malformed
            apply_patch(patch_type, original, patch, kind=kind)
        assert _canonical(original) == saved_original
        assert _canonical(patch) == saved_patch
    ops = [{"op": "add", "path": "/added-key", "value": patch}, {"op": "remove", "path": "/added-key"}]
    assert apply_patch(PatchType.JSON, original, ops) == original
    assert _canonical(original) == saved_original
