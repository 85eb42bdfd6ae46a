"""CustomResourceDefinitions: serving, schema validation, status subresource, deletion
(apiextensions-apiserver's behaviour), embedded and over gRPC."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import kvstore
from apimachinery.client import ResourceClient
from apimachinery.errors import BadRequestError, InvalidError, NotFoundError
from apimachinery.schema import GroupVersionResource
from kvstore.messages import prefix_range_end
from kvstore.registry import Registry

CRDS = GroupVersionResource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
WIDGETS = GroupVersionResource("example.com", "v1", "widgets")
WIDGETS_BETA = GroupVersionResource("example.com", "v1beta1", "widgets")
CLUSTERS = GroupVersionResource("example.com", "v1", "clusterwidgets")

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1},
                "color": {"type": "string", "enum": ["red", "blue"]},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        },
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}


def crd(
    plural: str = "widgets",
    kind: str = "Widget",
    *,
    scope: str = "Namespaced",
    status: bool = True,
    versions: tuple[str, ...] = ("v1",),
) -> dict[str, Any]:
    return {
        "metadata": {"name": f"{plural}.example.com"},
        "spec": {
            "group": "example.com",
            "scope": scope,
            "names": {"plural": plural, "kind": kind, "shortNames": ["wd"] if plural == "widgets" else []},
            "versions": [
                {
                    "name": v,
                    "served": True,
                    "storage": i == 0,
                    "schema": {"openAPIV3Schema": SCHEMA},
                    **({"subresources": {"status": {}}} if status else {}),
                }
                for i, v in enumerate(versions)
            ],
        },
    }


def widget(name: str = "w1", size: Any = 3, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"size": size, **spec},
    }


async def test_creating_a_crd_serves_its_resource_at_once(registry: ResourceClient) -> None:
    """apiextensions: a new CRD is Established and its group/version/resource can be used right away."""
    with pytest.raises(NotFoundError):
        await registry.list(WIDGETS, "default")
    created = await registry.create(CRDS, crd())
    conditions = {c["type"]: c["status"] for c in created["status"]["conditions"]}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert created["spec"]["names"]["singular"] == "widget"  # defaulted from the kind
    assert created["spec"]["names"]["listKind"] == "WidgetList"
    assert created["status"]["storedVersions"] == ["v1"]
    w = await registry.create(WIDGETS, widget(), "default")
    assert (w["kind"], w["metadata"]["namespace"], w["metadata"]["generation"]) == ("Widget", "default", 1)
    listed = await registry.list(WIDGETS, "default")
    assert listed["kind"] == "WidgetList" and [i["metadata"]["name"] for i in listed["items"]] == ["w1"]


async def test_cluster_scoped_custom_resources_have_no_namespace(registry: ResourceClient) -> None:
    """scope: Cluster objects live outside namespaces; Namespaced ones need an existing namespace."""
    await registry.create(CRDS, crd("clusterwidgets", "ClusterWidget", scope="Cluster"))
    obj = widget("c1") | {"apiVersion": "example.com/v1", "kind": "ClusterWidget"}
    created = await registry.create(CLUSTERS, obj)
    assert "namespace" not in created["metadata"]
    await registry.create(CRDS, crd())
    with pytest.raises(NotFoundError):
        await registry.create(WIDGETS, widget(), "missing-namespace")


async def test_schema_errors_list_every_field_and_write_nothing(registry: ResourceClient, store: kvstore.Store) -> None:
    """openAPIV3Schema: type, required and enum violations are one 422 Invalid naming each field."""
    await registry.create(CRDS, crd())
    rev = store.revision
    bad = widget(size="three", color="green")
    del bad["spec"]["size"]
    bad["spec"]["color"] = "green"
    with pytest.raises(InvalidError) as info:
        await registry.create(WIDGETS, bad, "default")
    causes = {(c["field"], c["reason"]) for c in info.value.causes}
    assert ("spec.size", "FieldValueRequired") in causes
    assert ("spec.color", "FieldValueNotSupported") in causes
    with pytest.raises(InvalidError) as info:
        await registry.create(WIDGETS, widget(size="three"), "default")
    assert [c["field"] for c in info.value.causes] == ["spec.size"]
    assert info.value.code == 422 and "Widget.example.com" in info.value.message
    assert store.revision == rev


async def test_unknown_fields_are_pruned_unless_preserved(registry: ResourceClient) -> None:
    """Structural pruning: undeclared fields are dropped; x-kubernetes-preserve-unknown-fields keeps them."""
    await registry.create(CRDS, crd())
    obj = widget(extra={"anything": [1, 2]}, unknown="dropped")
    obj["topLevel"] = "dropped too"
    created = await registry.create(WIDGETS, obj, "default")
    assert created["spec"] == {"size": 3, "extra": {"anything": [1, 2]}}
    assert "topLevel" not in created


async def test_status_subresource_splits_spec_and_status(registry: ResourceClient) -> None:
    """subresources.status: the main resource ignores status, /status changes only status;
    generation counts changes of everything but metadata and status."""
    await registry.create(CRDS, crd())
    created = await registry.create(WIDGETS, widget() | {"status": {"ready": True}}, "default")
    assert "status" not in created  # status is not set on create
    created["status"] = {"ready": True}
    created["spec"]["size"] = 4
    updated = await registry.update(WIDGETS, created, "default")
    assert "status" not in updated and updated["metadata"]["generation"] == 2
    updated["status"] = {"ready": True}
    updated["spec"]["size"] = 99
    with_status = await registry.update_status(WIDGETS, updated, "default")
    assert with_status["status"] == {"ready": True} and with_status["spec"]["size"] == 4
    assert with_status["metadata"]["generation"] == 2
    with pytest.raises(InvalidError):
        await registry.update_status(WIDGETS, with_status | {"status": {"ready": "yes"}}, "default")


async def test_without_status_subresource_status_is_part_of_the_object(registry: ResourceClient) -> None:
    """No status subresource: status is written by the main resource and bumps generation like any field."""
    await registry.create(CRDS, crd(status=False))
    created = await registry.create(WIDGETS, widget() | {"status": {"ready": False}}, "default")
    assert created["status"] == {"ready": False}
    created["status"] = {"ready": True}
    updated = await registry.update(WIDGETS, created, "default")
    assert updated["status"] == {"ready": True} and updated["metadata"]["generation"] == 2
    with pytest.raises(NotFoundError):
        await registry.update_status(WIDGETS, updated, "default")


async def test_every_served_version_reads_the_same_objects(registry: ResourceClient) -> None:
    """Several versions share one storage; each read carries the requested apiVersion (conversion None)."""
    await registry.create(CRDS, crd(versions=("v1", "v1beta1")))
    await registry.create(WIDGETS, widget(), "default")
    beta = await registry.get(WIDGETS_BETA, "w1", "default")
    assert beta["apiVersion"] == "example.com/v1beta1" and beta["spec"]["size"] == 3
    listed = await registry.list(WIDGETS_BETA, "default")
    assert [i["apiVersion"] for i in listed["items"]] == ["example.com/v1beta1"]
    with pytest.raises(BadRequestError):  # a v1 body sent to the v1beta1 endpoint
        await registry.create(WIDGETS_BETA, widget("w2"), "default")
    rv = listed["metadata"]["resourceVersion"]
    plain = await registry.watch(WIDGETS_BETA, "default", resource_version=rv)
    selected = await registry.watch(WIDGETS_BETA, "default", resource_version=rv, field_selector="metadata.name=w3")
    await registry.create(WIDGETS, widget("w3"), "default")
    for w in (plain, selected):  # watches read through v1beta1 too, with or without selectors
        event = await asyncio.wait_for(w.__anext__(), 10)
        assert (event["type"], event["object"]["apiVersion"]) == ("ADDED", "example.com/v1beta1")
        w.stop()


async def test_deleting_the_crd_deletes_its_objects_and_stops_serving(
    registry: ResourceClient, store: kvstore.Store
) -> None:
    """Deleting a CRD removes every object of the resource (watchers see DELETED) and the resource itself."""
    await registry.create(CRDS, crd())
    for name in ("w1", "w2"):
        await registry.create(WIDGETS, widget(name), "default")
    start = (await registry.list(WIDGETS))["metadata"]["resourceVersion"]
    w = await registry.watch(WIDGETS, resource_version=start)
    await registry.delete(CRDS, "widgets.example.com")
    events = [await asyncio.wait_for(w.__anext__(), 10) for _ in range(2)]
    assert sorted((e["type"], e["object"]["metadata"]["name"]) for e in events) == [
        ("DELETED", "w1"),
        ("DELETED", "w2"),
    ]
    w.stop()
    prefix = b"/registry/example.com/widgets/"
    assert (await store.range(prefix, prefix_range_end(prefix), count_only=True)).count == 0
    with pytest.raises(NotFoundError):
        await registry.get(WIDGETS, "w1", "default")
    await registry.create(CRDS, crd())  # re-created: served again, empty
    assert (await registry.list(WIDGETS, "default"))["items"] == []


async def test_invalid_or_conflicting_crds_are_refused_and_write_nothing(
    registry: ResourceClient, store: kvstore.Store
) -> None:
    """A CRD must be named plural.group, have a structural schema and not take served names."""
    rev = store.revision
    bad = crd()
    bad["metadata"]["name"] = "wrong.example.com"
    bad["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = {"properties": {"spec": {"type": "banana"}}}
    with pytest.raises(InvalidError) as info:
        await registry.create(CRDS, bad)
    fields = {c["field"] for c in info.value.causes}
    assert "metadata.name" in fields
    assert any(f.startswith("spec.versions[0].schema.openAPIV3Schema") for f in fields)
    await registry.create(CRDS, crd())
    rev = store.revision
    clash = crd("gadgets", "Widget")  # the kind Widget is taken in example.com
    with pytest.raises(InvalidError) as info:
        await registry.create(CRDS, clash)
    assert [c["field"] for c in info.value.causes] == ["spec.names.kind"]
    assert store.revision == rev


async def test_a_crd_update_changes_what_is_served(registry: ResourceClient) -> None:
    """Adding a version to a CRD serves it; the stored objects are visible through it."""
    created = await registry.create(CRDS, crd())
    await registry.create(WIDGETS, widget(), "default")
    with pytest.raises(NotFoundError):
        await registry.get(WIDGETS_BETA, "w1", "default")
    created["spec"]["versions"].append(crd(versions=("v1", "v1beta1"))["spec"]["versions"][1])
    del created["spec"]["names"]["listKind"]
    updated = await registry.update(CRDS, created)
    assert updated["spec"]["names"]["listKind"] == "WidgetList"  # defaulted on update too
    assert (await registry.get(WIDGETS_BETA, "w1", "default"))["apiVersion"] == "example.com/v1beta1"


async def test_another_registry_on_the_same_store_serves_stored_crds(store: kvstore.Store) -> None:
    """CRDs are stored objects: a second registry (another process, or a restart) serves them too."""
    first = Registry(store)
    await first.bootstrap()
    await first.create(CRDS, crd())
    await first.create(WIDGETS, widget(), "default")
    second = Registry(store)  # never bootstrapped: finds the CRD on first use
    assert (await second.get(WIDGETS, "w1", "default"))["spec"]["size"] == 3
    third = Registry(store)
    await third.bootstrap()
    assert WIDGETS in third.mapper
