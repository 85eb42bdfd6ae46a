"""Store and Indexer (client-go tools/cache: store.go, index.go, thread_safe_store.go)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from informer.errors import IndexNotFoundError, KeyFuncError
from informer.keys import NAMESPACE_INDEX, DeletedFinalStateUnknown
from informer.store import Indexer, Indexers, Store


def pod(namespace: str, name: str, node: str = "", tags: tuple[str, ...] = (), rv: str = "1") -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": {"namespace": namespace, "name": name, "resourceVersion": rv, "labels": {}},
        "spec": {"nodeName": node, "tags": list(tags)},
    }


def by_node(obj: Any) -> list[str]:
    node: str = obj["spec"]["nodeName"]
    return [node] if node else []


def by_tag(obj: Any) -> list[str]:
    return list(obj["spec"]["tags"])


def pod_indexer() -> Indexer:
    return Indexer(indexers={"node": by_node, "tag": by_tag})


def test_indexer_is_a_store() -> None:
    """cache.Indexer embeds cache.Store."""
    store: Store = Indexer()
    store.add(pod("prod", "a"))
    assert store.list_keys() == ["prod/a"]


def test_add_get_update_delete() -> None:
    """cache.Store: one object per key; update overwrites; get and get_by_key answer None when absent."""
    store = Indexer()
    a1, b1 = pod("prod", "a"), pod("", "b")
    store.add(a1)
    store.add(b1)
    assert store.get(pod("prod", "a", rv="9")) is a1
    assert store.get_by_key("b") is b1
    assert store.list_keys() == ["prod/a", "b"]
    a2 = pod("prod", "a", rv="2")
    store.update(a2)
    assert store.get_by_key("prod/a") is a2
    assert store.list() == [a2, b1]
    store.delete(a1)
    assert store.get_by_key("prod/a") is None
    assert store.get(a1) is None
    assert store.list() == [b1]


def test_keyed_writes_keep_the_indices() -> None:
    """client-go's threadSafeMap.Update(key, obj) / Delete(key): a caller that knows the key
    (a DeltaFIFO's consumer) writes by it, and the indices follow as with add and delete."""
    store = pod_indexer()
    store.put_by_key("prod/a", pod("prod", "a", node="n1"))
    assert store.by_index("node", "n1") == [pod("prod", "a", node="n1")]
    store.put_by_key("prod/a", pod("prod", "a", node="n2"))
    assert store.index_keys("node", "n1") == [] and store.index_keys("node", "n2") == ["prod/a"]
    store.delete_by_key("prod/a")
    store.delete_by_key("prod/absent")
    assert store.list_keys() == [] and store.list_index_func_values("node") == []


def test_delete_of_an_absent_key_is_not_an_error() -> None:
    """threadSafeMap.Delete: deleting a key that is not stored does nothing."""
    store = Indexer()
    store.delete(pod("prod", "ghost"))
    assert store.list() == []


def test_delete_accepts_a_tombstone() -> None:
    """DeletionHandlingMetaNamespaceKeyFunc lets the informer delete a DeletedFinalStateUnknown."""
    store = Indexer()
    store.add(pod("prod", "a"))
    store.delete(DeletedFinalStateUnknown("prod/a", None))
    assert store.list_keys() == []
    assert store.list_index_func_values(NAMESPACE_INDEX) == []


def test_namespace_index_is_built_in() -> None:
    """NewIndexer(..., Indexers{NamespaceIndex: MetaNamespaceIndexFunc}), present by default here."""
    store = Indexer()
    store.add(pod("prod", "a"))
    store.add(pod("prod", "b"))
    store.add(pod("dev", "c"))
    assert set(store.get_indexers()) == {NAMESPACE_INDEX}
    assert store.index_keys(NAMESPACE_INDEX, "prod") == ["prod/a", "prod/b"]
    assert [o["metadata"]["name"] for o in store.by_index(NAMESPACE_INDEX, "dev")] == ["c"]
    assert store.list_index_func_values(NAMESPACE_INDEX) == ["prod", "dev"]


def test_update_moves_an_object_between_buckets_and_drops_empty_ones() -> None:
    """threadSafeMap.updateIndices: old values removed, new added; an emptied bucket is deleted."""
    store = pod_indexer()
    store.add(pod("prod", "web-0", node="n1"))
    store.add(pod("prod", "web-1", node="n2"))
    store.add(pod("kube-system", "dns", node="n1"))
    assert store.index_keys("node", "n1") == ["prod/web-0", "kube-system/dns"]
    store.update(pod("prod", "web-1", node="n1"))
    assert store.index_keys("node", "n1") == ["prod/web-0", "kube-system/dns", "prod/web-1"]
    assert store.index_keys("node", "n2") == []
    assert store.list_index_func_values("node") == ["n1"]
    store.delete(pod("kube-system", "dns"))
    assert store.list_index_func_values(NAMESPACE_INDEX) == ["prod"]
    store.update(pod("prod", "web-0"))  # unscheduled: filed under no node
    assert store.index_keys("node", "n1") == ["prod/web-1"]


def test_index_returns_objects_sharing_any_value() -> None:
    """threadSafeMap.Index: the union of the buckets of every value the given object has."""
    store = pod_indexer()
    store.add(pod("p", "a", tags=("x",)))
    store.add(pod("p", "b", tags=("y", "z")))
    store.add(pod("p", "c", tags=("z",)))
    store.add(pod("p", "d"))
    names = [o["metadata"]["name"] for o in store.index("tag", pod("q", "probe", tags=("x", "z", "x")))]
    assert names == ["a", "b", "c"]
    assert store.index("tag", pod("q", "probe")) == []


def test_duplicate_values_from_an_index_function_file_the_key_once() -> None:
    """client-go's index buckets are sets: a value listed twice files the key once."""
    store = pod_indexer()
    store.add(pod("p", "a", tags=("x", "x")))
    assert store.index_keys("tag", "x") == ["p/a"]
    store.delete(pod("p", "a"))
    assert store.list_index_func_values("tag") == []


def test_add_indexers_indexes_existing_items() -> None:
    """threadSafeMap.AddIndexers: a new index is built over the objects already stored."""
    store = Indexer()
    store.add(pod("p", "a", node="n1"))
    store.add_indexers({"node": by_node})
    assert store.index_keys("node", "n1") == ["p/a"]
    store.add(pod("p", "b", node="n1"))
    assert store.index_keys("node", "n1") == ["p/a", "p/b"]


def test_add_indexers_rejects_an_existing_name() -> None:
    """threadSafeMap.AddIndexers: "indexer conflict" when a name is already present; nothing is added."""
    store = pod_indexer()
    with pytest.raises(ValueError, match="indexer conflict: node"):
        store.add_indexers({"node": by_node, "other": by_tag})
    assert set(store.get_indexers()) == {NAMESPACE_INDEX, "node", "tag"}


def test_constructor_indexers_may_replace_the_namespace_index() -> None:
    store = Indexer(indexers={NAMESPACE_INDEX: lambda obj: ["everything"]})
    store.add(pod("p", "a"))
    assert store.index_keys(NAMESPACE_INDEX, "everything") == ["p/a"]


@pytest.mark.parametrize(
    "query",
    [
        lambda s: s.index("missing", pod("p", "a")),
        lambda s: s.index_keys("missing", "v"),
        lambda s: s.by_index("missing", "v"),
    ],
    ids=["index", "index_keys", "by_index"],
)
def test_unknown_index_name_is_an_error(query: Any) -> None:
    """threadSafeMap: "Index with name %s does not exist"."""
    with pytest.raises(IndexNotFoundError) as info:
        query(Indexer())
    assert info.value.index_name == "missing"


def test_list_index_func_values_of_an_unknown_index_is_empty() -> None:
    """threadSafeMap.ListIndexFuncValues answers an empty list for an unknown index."""
    assert Indexer().list_index_func_values("missing") == []


def test_replace_swaps_content_and_rebuilds_indices() -> None:
    """cache.Replace: the store then holds exactly the given objects; the last of equal keys wins."""
    store = pod_indexer()
    store.add(pod("old", "gone", node="n9"))
    store.add(pod("p", "a", node="n1"))
    a2 = pod("p", "a", node="n2", rv="2")
    store.replace([pod("p", "a", node="n1"), a2, pod("q", "b", node="n2")], "7")
    assert store.list_keys() == ["p/a", "q/b"]
    assert store.get_by_key("p/a") is a2
    assert store.list_index_func_values("node") == ["n2"]
    assert store.list_index_func_values(NAMESPACE_INDEX) == ["p", "q"]


def test_a_key_error_changes_nothing() -> None:
    """cache.Replace computes every key first: an unkeyable object leaves the store as it was."""
    store = Indexer()
    store.add(pod("p", "a"))
    with pytest.raises(KeyFuncError):
        store.replace([pod("p", "b"), {"metadata": {}}], "2")
    with pytest.raises(KeyFuncError):
        store.add({"metadata": {}})
    assert store.list_keys() == ["p/a"]


def test_an_index_function_error_changes_nothing() -> None:
    """Every index value is computed before the store changes (client-go panics instead)."""

    def picky(obj: Any) -> list[str]:
        if obj["metadata"]["name"] == "bad":
            raise RuntimeError("cannot index")
        return ["ok"]

    store = Indexer(indexers={"picky": picky})
    store.add(pod("p", "a"))
    with pytest.raises(RuntimeError):
        store.add(pod("p", "bad"))
    with pytest.raises(RuntimeError):
        store.replace([pod("p", "b"), pod("p", "bad")], "")
    with pytest.raises(RuntimeError):
        store.add_indexers({"fine": by_node, "broken": lambda obj: picky(pod("p", "bad"))})
    assert set(store.get_indexers()) == {NAMESPACE_INDEX, "picky"}
    assert store.list_keys() == ["p/a"]
    assert store.list_index_func_values(NAMESPACE_INDEX) == ["p"]
    assert store.index_keys("picky", "ok") == ["p/a"]


def test_in_place_mutation_of_a_stored_object_leaves_no_stale_entry() -> None:
    """Old index values are remembered, not recomputed from the (possibly mutated) old object."""
    store = pod_indexer()
    stored = pod("p", "a", node="n1")
    store.add(stored)
    stored["spec"]["nodeName"] = "n2"  # a caller's bug: mutating the cache's object
    store.update(pod("p", "a", node="n3"))
    assert store.list_index_func_values("node") == ["n3"]


def test_resync_does_nothing() -> None:
    """cache.Resync is a no-op for a plain cache."""
    store = Indexer()
    store.add(pod("p", "a"))
    store.resync()
    assert store.list_keys() == ["p/a"]


# -- property: indices always equal indices recomputed from scratch -----------------------

_names = st.sampled_from(["a", "b", "c", "d"])
_namespaces = st.sampled_from(["", "p", "q"])
_pods = st.builds(
    pod,
    namespace=_namespaces,
    name=_names,
    node=st.sampled_from(["", "n1", "n2"]),
    tags=st.lists(st.sampled_from(["x", "y", "z"]), max_size=3).map(tuple),
)
_ops = st.one_of(
    st.tuples(st.sampled_from(["add", "update", "delete"]), _pods),
    st.tuples(st.just("replace"), st.lists(_pods, max_size=5)),
    st.tuples(st.just("add_indexers"), st.just(None)),
)


def recomputed(objects: list[Any], indexers: Indexers) -> dict[str, dict[str, set[str]]]:
    indices: dict[str, dict[str, set[str]]] = {name: {} for name in indexers}
    for obj in objects:
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}".lstrip("/")
        for name, func in indexers.items():
            for value in func(obj):
                indices[name].setdefault(value, set()).add(key)
    return indices


def observed(store: Indexer) -> dict[str, dict[str, set[str]]]:
    return {
        name: {value: set(store.index_keys(name, value)) for value in store.list_index_func_values(name)}
        for name in store.get_indexers()
    }


@settings(max_examples=200, deadline=None)
@given(st.lists(_ops, max_size=30))
def test_indices_equal_indices_recomputed_from_scratch(ops: list[tuple[str, Any]]) -> None:
    """After any sequence of writes, every index is exactly what the stored objects' values give."""
    store = Indexer(indexers={"node": by_node})
    for op, arg in ops:
        if op == "replace":
            store.replace(arg, "")
        elif op == "add_indexers":
            if "tag" not in store.get_indexers():
                store.add_indexers({"tag": by_tag})
        else:
            getattr(store, op)(arg)
        assert observed(store) == recomputed(store.list(), store.get_indexers())
        assert all(store.index_keys(n, v) for n in store.get_indexers() for v in store.list_index_func_values(n))
