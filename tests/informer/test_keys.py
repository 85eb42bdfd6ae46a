"""Cache keys and the namespace index (client-go tools/cache: store.go, index.go, controller.go)."""

from __future__ import annotations

import doctest
from typing import Any

import pytest

from informer import keys
from informer.errors import KeyFuncError
from informer.keys import (
    NAMESPACE_INDEX,
    DeletedFinalStateUnknown,
    meta_namespace_index_func,
    meta_namespace_key_func,
    split_meta_namespace_key,
)


@pytest.mark.parametrize(
    ("obj", "key"),
    [
        ({"metadata": {"namespace": "prod", "name": "web-0"}}, "prod/web-0"),
        ({"metadata": {"name": "node-1"}}, "node-1"),
        ({"metadata": {"namespace": "", "name": "node-1"}}, "node-1"),
        (DeletedFinalStateUnknown("prod/web-0", None), "prod/web-0"),
        (DeletedFinalStateUnknown("prod/web-0", {"metadata": {"namespace": "x", "name": "y"}}), "prod/web-0"),
    ],
    ids=["namespaced", "cluster-scoped", "empty-namespace", "tombstone", "tombstone-key-wins"],
)
def test_meta_namespace_key_func(obj: Any, key: str) -> None:
    """MetaNamespaceKeyFunc ("ns/name" or "name"), with DeletionHandlingMetaNamespaceKeyFunc's tombstone rule."""
    assert meta_namespace_key_func(obj) == key


@pytest.mark.parametrize(
    "obj",
    [None, "prod/web-0", ["metadata"], {}, {"metadata": {"namespace": "prod"}}, {"metadata": "web-0"}],
    ids=["none", "string", "list", "no-metadata", "no-name", "malformed-metadata"],
)
def test_key_func_error_carries_the_object(obj: Any) -> None:
    """client-go's KeyError{Obj, Err}: the failure names the object that could not be keyed."""
    with pytest.raises(KeyFuncError) as info:
        meta_namespace_key_func(obj)
    assert info.value.obj is obj


@pytest.mark.parametrize(
    ("key", "parts"),
    [("prod/web-0", ("prod", "web-0")), ("node-1", ("", "node-1")), ("/x", ("", "x"))],
)
def test_split_meta_namespace_key(key: str, parts: tuple[str, str]) -> None:
    """SplitMetaNamespaceKey: one slash splits namespace from name; none means cluster-scoped."""
    assert split_meta_namespace_key(key) == parts


def test_split_meta_namespace_key_rejects_more_than_one_slash() -> None:
    """SplitMetaNamespaceKey: "unexpected key format" for a key with two slashes."""
    with pytest.raises(ValueError, match="unexpected key format"):
        split_meta_namespace_key("a/b/c")


@pytest.mark.parametrize(
    ("obj", "values"),
    [({"metadata": {"namespace": "prod", "name": "a"}}, ["prod"]), ({"metadata": {"name": "n"}}, [""])],
    ids=["namespaced", "cluster-scoped"],
)
def test_meta_namespace_index_func(obj: Any, values: list[str]) -> None:
    """MetaNamespaceIndexFunc files every object under its namespace, cluster-scoped ones under ""."""
    assert meta_namespace_index_func(obj) == values
    assert NAMESPACE_INDEX == "namespace"


def test_meta_namespace_index_func_rejects_a_non_object() -> None:
    with pytest.raises(TypeError):
        meta_namespace_index_func("prod/a")


def test_module_examples() -> None:
    failures, _ = doctest.testmod(keys)
    assert failures == 0
