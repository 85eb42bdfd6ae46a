"""JSON patch (RFC 6902) and JSON pointer (RFC 6901), through `apply_patch` and the engine."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from apimachinery.errors import BadRequestError, InvalidError, RequestEntityTooLargeError
from apimachinery.patch import PatchType, apply_patch
from apimachinery.patch.json_patch import REJECTED_MESSAGE, JsonPatchError, apply_operations, parse_pointer, resolve

# RFC 6902 Appendix A, the examples that succeed: (section, document, patch, result).
APPENDIX_A_OK: list[tuple[str, dict[str, Any], list[dict[str, Any]], dict[str, Any]]] = [
    ("A.1", {"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
    ("A.2", {"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}], {"foo": ["bar", "qux", "baz"]}),
    ("A.3", {"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ("A.4", {"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
    (
        "A.5",
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
    ),
    (
        "A.6",
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (
        "A.7",
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    (
        "A.8",
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [{"op": "test", "path": "/baz", "value": "qux"}, {"op": "test", "path": "/foo/1", "value": 2}],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    (
        "A.10",
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
    ),
    (
        "A.11",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
        {"foo": "bar", "baz": "qux"},
    ),
    ("A.14", {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    (
        "A.16",
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
    ),
]

# RFC 6902 Appendix A, the examples that are errors: (section, document, patch body).
APPENDIX_A_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    ("A.9", {"baz": "qux"}, '[{"op": "test", "path": "/baz", "value": "bar"}]'),
    ("A.12", {"foo": "bar"}, '[{"op": "add", "path": "/baz/bat", "value": "qux"}]'),
    # A.13 repeats "op"; a JSON parser keeps the last ("remove") and /baz does not exist.
    ("A.13", {"foo": "bar"}, '[{"op": "add", "path": "/baz", "value": "qux", "op": "remove"}]'),
    ("A.15", {"/": 9, "~1": 10}, '[{"op": "test", "path": "/~01", "value": "10"}]'),
]


@pytest.mark.parametrize(("section", "doc", "patch", "result"), APPENDIX_A_OK, ids=[r[0] for r in APPENDIX_A_OK])
def test_rfc6902_appendix_a(section: str, doc: dict[str, Any], patch: list[dict[str, Any]], result: Any) -> None:
    """RFC 6902 Appendix A: the examples that apply, sent as a body the way a client sends it."""
    before = copy.deepcopy(doc)
    assert apply_patch(PatchType.JSON, doc, json.dumps(patch).encode()) == result
    assert doc == before


@pytest.mark.parametrize(("section", "doc", "body"), APPENDIX_A_ERRORS, ids=[r[0] for r in APPENDIX_A_ERRORS])
def test_rfc6902_appendix_a_errors_are_422(section: str, doc: dict[str, Any], body: str) -> None:
    """kube-apiserver patch.go: a failed apply is NewGenericServerResponse(422): Invalid, generic message."""
    with pytest.raises(InvalidError) as info:
        apply_patch(PatchType.JSON, doc, body)
    err = info.value
    assert (err.code, err.reason, err.message) == (422, "Invalid", REJECTED_MESSAGE)
    assert isinstance(err.__cause__, JsonPatchError)  # the detail the server drops, kept for us


@pytest.mark.parametrize(
    ("pointer", "tokens"),
    [("", []), ("/", [""]), ("/a~1b", ["a/b"]), ("/m~0n", ["m~n"]), ("/~01", ["~1"]), ("/a/0", ["a", "0"])],
)
def test_pointer_tokens_and_escapes(pointer: str, tokens: list[str]) -> None:
    """RFC 6901 section 4: `~1` is `/` and `~0` is `~`, `~01` decodes to `~1` (not `/`)."""
    assert parse_pointer(pointer) == tokens


def test_rfc6901_section_5_examples() -> None:
    """RFC 6901 section 5: every pointer of the example document resolves to its value."""
    doc = {"foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3, "g|h": 4, "i\\j": 5, 'k"l': 6, " ": 7, "m~n": 8}
    expected = {"": doc, "/foo": ["bar", "baz"], "/foo/0": "bar", "/": 0, "/a~1b": 1, "/c%d": 2}
    expected |= {"/e^f": 3, "/g|h": 4, "/i\\j": 5, '/k"l': 6, "/ ": 7, "/m~0n": 8}
    for pointer, value in expected.items():
        assert resolve(doc, pointer) == value


@pytest.mark.parametrize(
    ("ops", "why"),
    [
        ([{"op": "add", "path": "/a/01", "value": 1}], "leading zero"),
        ([{"op": "replace", "path": "/a/2", "value": 1}], "index == length only for add"),
        ([{"op": "remove", "path": "/a/-"}], "'-' names no element outside add"),
        ([{"op": "add", "path": "/a/3", "value": 1}], "index past the end"),
        ([{"op": "add", "path": "a", "value": 1}], "pointer without leading slash"),
        ([{"op": "add", "path": "/a~2", "value": 1}], "bad escape"),
        ([{"op": "remove", "path": "/missing"}], "remove of a missing member"),
        ([{"op": "replace", "path": "/missing", "value": 1}], "replace of a missing member"),
        ([{"op": "move", "from": "/b", "path": "/b/c"}], "move into own child"),
        ([{"op": "copy", "from": "/missing", "path": "/c"}], "copy from a missing member"),
        ([{"op": "frobnicate", "path": "/a"}], "unknown op"),
        ([{"op": "add", "path": "/c"}], "add without value"),
        ([{"op": "test", "path": "/t", "value": 1}], "true is not 1"),
    ],
)
def test_index_and_operation_rules(ops: list[dict[str, Any]], why: str) -> None:
    """RFC 6902 section 4 / RFC 6901 section 4: each of these operations is an error."""
    with pytest.raises(JsonPatchError):
        apply_operations({"a": [1, 2], "b": {}, "t": True}, ops)


def test_add_at_length_appends_and_empty_path_replaces_document() -> None:
    """RFC 6902 4.1: index equal to the length appends; RFC 6901: "" names the whole document."""
    assert apply_operations({"a": [1]}, [{"op": "add", "path": "/a/1", "value": 2}]) == {"a": [1, 2]}
    assert apply_operations({"a": 1}, [{"op": "add", "path": "", "value": {"b": 2}}]) == {"b": 2}
    assert apply_operations({"a": [1, 2]}, [{"op": "copy", "from": "/a", "path": "/b"}]) == {"a": [1, 2], "b": [1, 2]}


def test_patch_is_atomic() -> None:
    """RFC 6902 section 5: if any operation fails the whole patch fails; the original is untouched."""
    doc = {"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1}}
    before = copy.deepcopy(doc)
    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "remove", "path": "/metadata/labels/a"},
        {"op": "test", "path": "/spec/replicas", "value": 1},  # fails: it is 3 now
    ]
    with pytest.raises(InvalidError):
        apply_patch(PatchType.JSON, doc, ops)
    assert doc == before


@pytest.mark.parametrize("body", [b"{bad", b'{"op": "add"}', b"[1]", b"null"])
def test_body_that_is_not_a_list_of_operations_is_bad_request(body: bytes) -> None:
    """kube-apiserver patch.go: jsonpatch.DecodePatch failing is NewBadRequest (400)."""
    with pytest.raises(BadRequestError) as info:
        apply_patch(PatchType.JSON, {"a": 1}, body)
    assert info.value.code == 400


def test_too_many_operations_is_413() -> None:
    """kube-apiserver patch.go: more than maxJSONPatchOperations (10000) is RequestEntityTooLarge."""
    ops = [{"op": "test", "path": "/a", "value": 1}] * 10001
    with pytest.raises(RequestEntityTooLargeError, match="got 10001"):
        apply_patch(PatchType.JSON, {"a": 1}, ops)


def test_replacing_the_root_with_a_non_object_is_invalid() -> None:
    """kube-apiserver: the patched JSON must decode into the object, else 422 Invalid on `patch`."""
    with pytest.raises(InvalidError) as info:
        apply_patch(PatchType.JSON, {"a": 1}, [{"op": "replace", "path": "", "value": [1]}])
    assert info.value.errors[0].field == "patch"
