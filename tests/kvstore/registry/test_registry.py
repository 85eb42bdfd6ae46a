"""The registry's create/get/list/update/delete rules, each as kube-apiserver applies it."""

from __future__ import annotations

from typing import Any

import pytest

import kvstore
from apimachinery.client import ResourceClient
from apimachinery.errors import (
    AlreadyExistsError,
    BadRequestError,
    ConflictError,
    ExpiredError,
    ForbiddenError,
    GoneError,
    InvalidError,
    NotFoundError,
    RequestEntityTooLargeError,
)
from apimachinery.schema import GroupVersionResource

PODS = GroupVersionResource("", "v1", "pods")
CMS = GroupVersionResource("", "v1", "configmaps")
DEPLOY = GroupVersionResource("apps", "v1", "deployments")
NODES = GroupVersionResource("", "v1", "nodes")
NAMESPACES = GroupVersionResource("", "v1", "namespaces")


def pod(name: str = "web-0", labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec},
    }


def deployment(name: str = "web", replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    }


async def test_create_fills_identity_and_resource_version_is_the_store_revision(
    registry: ResourceClient, store: kvstore.Store
) -> None:
    """kube-apiserver create: uid, creationTimestamp, generation 1, resourceVersion = revision as a string."""
    created = await registry.create(PODS, pod(), "default")
    md = created["metadata"]
    assert md["namespace"] == "default" and md["uid"] and md["creationTimestamp"].endswith("Z")
    assert md["generation"] == 1
    assert md["resourceVersion"] == str(store.revision)
    assert created["status"] == {"phase": "Pending"}
    got = await registry.get(PODS, "web-0", "default")
    assert got == created


async def test_generate_name_appends_five_characters(registry: ResourceClient) -> None:
    created = await registry.create(PODS, {"metadata": {"generateName": "web-"}, "spec": pod()["spec"]}, "default")
    name = created["metadata"]["name"]
    assert name.startswith("web-") and len(name) == len("web-") + 5


async def test_duplicate_create_is_already_exists_and_writes_nothing(
    registry: ResourceClient, store: kvstore.Store
) -> None:
    await registry.create(PODS, pod(), "default")
    rev = store.revision
    with pytest.raises(AlreadyExistsError, match='pods "web-0" already exists') as info:
        await registry.create(PODS, pod(), "default")
    assert info.value.code == 409
    assert store.revision == rev


async def test_namespaced_create_needs_an_existing_namespace(registry: ResourceClient) -> None:
    """kube-apiserver: 404 for a missing namespace; `default` and `kube-system` exist from the start."""
    with pytest.raises(NotFoundError, match='namespaces "nope" not found'):
        await registry.create(PODS, pod(), "nope")
    await registry.create(PODS, pod(), "kube-system")


async def test_no_create_in_a_terminating_namespace(registry: ResourceClient) -> None:
    await registry.create(NAMESPACES, {"metadata": {"name": "going", "finalizers": ["kubernetes"]}})
    await registry.delete(NAMESPACES, "going")
    with pytest.raises(ForbiddenError, match="being terminated"):
        await registry.create(PODS, pod(), "going")


async def test_creates_follow_a_namespace_deleted_and_created_again(registry: ResourceClient) -> None:
    """kube-apiserver's NamespaceLifecycle admission (read through the namespaces' watch cache here):
    a create in a namespace that was deleted is 404, and succeeds once the namespace exists again."""
    await registry.create(NAMESPACES, {"metadata": {"name": "again"}})
    await registry.create(PODS, pod("first"), "again")  # the namespace is known (and cached)
    await registry.delete(PODS, "first", "again")
    await registry.delete(NAMESPACES, "again")
    with pytest.raises(NotFoundError, match='namespaces "again" not found'):
        await registry.create(PODS, pod("second"), "again")
    await registry.create(NAMESPACES, {"metadata": {"name": "again"}})
    created = await registry.create(PODS, pod("third"), "again")
    assert created["metadata"]["namespace"] == "again"
    names = [p["metadata"]["name"] for p in (await registry.list(PODS, "again"))["items"]]
    assert names == ["third"]


async def test_invalid_object_reports_every_field_and_writes_nothing(
    registry: ResourceClient, store: kvstore.Store
) -> None:
    bad = pod("Web_0")
    bad["spec"]["containers"][0]["image"] = ""
    rev = store.revision
    with pytest.raises(InvalidError) as info:
        await registry.create(PODS, bad, "default")
    fields = {c["field"] for c in info.value.causes}
    assert {"metadata.name", "spec.containers[0].image"} <= fields
    assert store.revision == rev


async def test_kind_and_namespace_mismatch_are_bad_requests(registry: ResourceClient) -> None:
    with pytest.raises(BadRequestError, match="kind in the data"):
        await registry.create(PODS, {**pod(), "kind": "Service"}, "default")
    other = pod()
    other["metadata"]["namespace"] = "kube-system"
    with pytest.raises(BadRequestError, match="does not match the namespace"):
        await registry.create(PODS, other, "default")


async def test_stale_resource_version_is_a_conflict_and_writes_nothing(
    registry: ResourceClient, store: kvstore.Store
) -> None:
    """Optimistic concurrency: an update carrying an old resourceVersion gets 409 Conflict."""
    created = await registry.create(PODS, pod(), "default")
    first = dict(created, metadata={**created["metadata"], "labels": {"a": "1"}})
    updated = await registry.update(PODS, first, "default")
    assert int(updated["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    stale = dict(created, metadata={**created["metadata"], "labels": {"a": "2"}})
    rev = store.revision
    with pytest.raises(ConflictError, match="the object has been modified"):
        await registry.update(PODS, stale, "default")
    assert store.revision == rev
    assert (await registry.get(PODS, "web-0", "default"))["metadata"]["labels"] == {"a": "1"}


async def test_generation_counts_spec_changes_only(registry: ResourceClient) -> None:
    d = await registry.create(DEPLOY, deployment(), "default")
    assert d["metadata"]["generation"] == 1
    d["metadata"]["labels"] = {"x": "y"}
    d = await registry.update(DEPLOY, d, "default")
    assert d["metadata"]["generation"] == 1
    d["spec"]["replicas"] = 3
    d = await registry.update(DEPLOY, d, "default")
    assert d["metadata"]["generation"] == 2


async def test_status_subresource_splits_spec_and_status(registry: ResourceClient) -> None:
    """The main resource ignores status; /status ignores everything but status."""
    d = await registry.create(DEPLOY, {**deployment(), "status": {"replicas": 9}}, "default")
    assert "status" not in d or d["status"] == {}
    d["status"] = {"replicas": 5}
    d = await registry.update(DEPLOY, d, "default")
    assert d.get("status", {}) == {}
    d["status"] = {"replicas": 2}
    d["spec"]["replicas"] = 7
    d = await registry.update(DEPLOY, d, "default", subresource="status")
    assert d["status"] == {"replicas": 2} and d["spec"]["replicas"] == 1
    assert d["metadata"]["generation"] == 1


async def test_scale_subresource_reads_and_sets_replicas(registry: ResourceClient) -> None:
    await registry.create(DEPLOY, deployment(replicas=2), "default")
    scale = await registry.get_scale(DEPLOY, "web", "default")
    assert scale["kind"] == "Scale" and scale["spec"] == {"replicas": 2}
    assert scale["status"]["selector"] == "app=web"
    scale["spec"]["replicas"] = 4
    out = await registry.update(DEPLOY, scale, "default", subresource="scale")
    assert out["spec"]["replicas"] == 4
    d = await registry.get(DEPLOY, "web", "default")
    assert d["spec"]["replicas"] == 4 and d["metadata"]["generation"] == 2
    with pytest.raises(NotFoundError):
        await registry.get_scale(PODS, "web-0", "default")


async def test_delete_preconditions(registry: ResourceClient) -> None:
    created = await registry.create(PODS, pod(), "default")
    with pytest.raises(ConflictError, match="Precondition failed: UID"):
        await registry.delete(PODS, "web-0", "default", preconditions={"uid": "other"})
    with pytest.raises(ConflictError, match="Precondition failed: ResourceVersion"):
        await registry.delete(PODS, "web-0", "default", preconditions={"resourceVersion": "1"})
    await registry.delete(PODS, "web-0", "default", preconditions={"uid": created["metadata"]["uid"]})
    with pytest.raises(NotFoundError):
        await registry.get(PODS, "web-0", "default")


async def test_finalizers_keep_the_object_until_the_last_is_removed(registry: ResourceClient) -> None:
    """delete with finalizers sets deletionTimestamp; removing the last finalizer deletes it."""
    p = pod()
    p["metadata"]["finalizers"] = ["example.com/hold"]
    await registry.create(PODS, p, "default")
    marked = await registry.delete(PODS, "web-0", "default")
    assert marked["metadata"]["deletionTimestamp"] and marked["metadata"]["deletionGracePeriodSeconds"] == 0
    still = await registry.get(PODS, "web-0", "default")
    still["metadata"]["finalizers"] = []
    await registry.update(PODS, still, "default")
    with pytest.raises(NotFoundError):
        await registry.get(PODS, "web-0", "default")


@pytest.mark.parametrize(("policy", "finalizer"), [("Foreground", "foregroundDeletion"), ("Orphan", "orphan")])
async def test_propagation_policy_is_recorded_as_a_finalizer(
    registry: ResourceClient, policy: str, finalizer: str
) -> None:
    await registry.create(DEPLOY, deployment(), "default")
    marked = await registry.delete(DEPLOY, "web", "default", propagation_policy=policy)
    assert marked["metadata"]["finalizers"] == [finalizer]
    with pytest.raises(BadRequestError, match="propagationPolicy"):
        await registry.delete(DEPLOY, "web", "default", propagation_policy="Sideways")


async def test_list_selectors_and_namespaces(registry: ResourceClient) -> None:
    await registry.create(PODS, pod("a", {"app": "web", "tier": "fe"}), "default")
    await registry.create(PODS, pod("b", {"app": "web"}, nodeName="n1"), "default")
    await registry.create(PODS, pod("c", {"app": "db"}), "kube-system")
    everything = await registry.list(PODS)
    assert [p["metadata"]["name"] for p in everything["items"]] == ["a", "b", "c"]
    assert everything["kind"] == "PodList" and everything["metadata"]["resourceVersion"]
    in_default = await registry.list(PODS, "default", label_selector="app=web,tier notin (be)")
    assert [p["metadata"]["name"] for p in in_default["items"]] == ["a", "b"]
    on_node = await registry.list(PODS, field_selector="spec.nodeName=n1")
    assert [p["metadata"]["name"] for p in on_node["items"]] == ["b"]
    with pytest.raises(BadRequestError, match="field label not supported"):
        await registry.list(PODS, field_selector="spec.image=x")
    with pytest.raises(BadRequestError):
        await registry.list(PODS, label_selector="app in (web")


async def test_limit_and_continue_page_through_one_snapshot(registry: ResourceClient) -> None:
    """Pages of a chunked list all read the first page's revision: later writes do not show."""
    for i in range(5):
        await registry.create(CMS, {"metadata": {"name": f"cm-{i}"}}, "default")
    page = await registry.list(CMS, "default", limit=2)
    rv = page["metadata"]["resourceVersion"]
    names = [i["metadata"]["name"] for i in page["items"]]
    assert page["metadata"]["remainingItemCount"] == 3
    await registry.create(CMS, {"metadata": {"name": "cm-later"}}, "default")
    await registry.delete(CMS, "cm-4", "default")
    while page["metadata"].get("continue"):
        page = await registry.list(CMS, "default", limit=2, continue_=page["metadata"]["continue"])
        assert page["metadata"]["resourceVersion"] == rv
        names += [i["metadata"]["name"] for i in page["items"]]
    assert names == [f"cm-{i}" for i in range(5)]


async def test_expired_continue_token_is_410_expired(registry: ResourceClient, store: kvstore.Store) -> None:
    for i in range(3):
        await registry.create(CMS, {"metadata": {"name": f"cm-{i}"}}, "default")
    page = await registry.list(CMS, "default", limit=1)
    await registry.create(CMS, {"metadata": {"name": "cm-x"}}, "default")
    await store.compact(store.revision)
    with pytest.raises(ExpiredError) as info:
        await registry.list(CMS, "default", limit=1, continue_=page["metadata"]["continue"])
    assert info.value.code == 410
    with pytest.raises(BadRequestError, match="continue key is not valid"):
        await registry.list(CMS, "default", continue_="garbage!")


async def test_resource_version_semantics_of_get_and_list(registry: ResourceClient, store: kvstore.Store) -> None:
    """ "" and "0" read the latest; Exact reads history; compacted is 410 Gone; future is 504."""
    c = await registry.create(CMS, {"metadata": {"name": "cm"}, "data": {"v": "1"}}, "default")
    old_rv = c["metadata"]["resourceVersion"]
    c["data"] = {"v": "2"}
    await registry.update(CMS, c, "default")
    assert (await registry.get(CMS, "cm", "default", resource_version=old_rv))["data"] == {"v": "1"}
    exact = await registry.list(CMS, "default", resource_version=old_rv, resource_version_match="Exact")
    assert exact["items"][0]["data"] == {"v": "1"} and exact["metadata"]["resourceVersion"] == old_rv
    latest = await registry.list(CMS, "default", resource_version="0")
    assert latest["items"][0]["data"] == {"v": "2"}
    with pytest.raises(BadRequestError):
        await registry.list(CMS, "default", resource_version_match="Exact")
    future = str(store.revision + 100)
    with pytest.raises(Exception, match="Too large resource version") as too_large:
        await registry.list(CMS, "default", resource_version=future)
    assert getattr(too_large.value, "code", None) == 504
    await store.compact(store.revision)
    with pytest.raises(GoneError, match="too old resource version"):
        await registry.list(CMS, "default", resource_version=old_rv, resource_version_match="Exact")


async def test_delete_collection_deletes_only_the_selected(registry: ResourceClient) -> None:
    await registry.create(PODS, pod("a", {"app": "web"}), "default")
    await registry.create(PODS, pod("b", {"app": "db"}), "default")
    out = await registry.delete_collection(PODS, "default", label_selector="app=web")
    assert [i["metadata"]["name"] for i in out["items"]] == ["a"]
    assert [p["metadata"]["name"] for p in (await registry.list(PODS))["items"]] == ["b"]


async def test_cluster_scoped_objects_have_no_namespace(registry: ResourceClient) -> None:
    node = await registry.create(NODES, {"metadata": {"name": "n1", "namespace": "ignored"}, "status": {"x": 1}})
    assert "namespace" not in node["metadata"]
    assert node["status"] == {"x": 1}
    assert [n["metadata"]["name"] for n in (await registry.list(NAMESPACES))["items"]] == [
        "default",
        "kube-node-lease",
        "kube-public",
        "kube-system",
    ]


async def test_patches_of_the_three_types_go_through_the_same_rules(
    registry: ResourceClient, store: kvstore.Store
) -> None:
    """kube-apiserver PATCH: merge, JSON and strategic merge patches; validation and generation apply."""
    await registry.create(DEPLOY, deployment(), "default")
    d = await registry.patch(DEPLOY, "web", "application/merge-patch+json", {"spec": {"replicas": 3}}, "default")
    assert d["spec"]["replicas"] == 3 and d["metadata"]["generation"] == 2
    side = {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox"}]}}}}
    d = await registry.patch(DEPLOY, "web", "application/strategic-merge-patch+json", side, "default")
    assert sorted(c["name"] for c in d["spec"]["template"]["spec"]["containers"]) == ["c", "side"]
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 3},
        {"op": "replace", "path": "/spec/replicas", "value": 5},
    ]
    d = await registry.patch(DEPLOY, "web", "application/json-patch+json", ops, "default")
    assert d["spec"]["replicas"] == 5
    rev = store.revision
    failing = [{"op": "test", "path": "/spec/replicas", "value": 1}]
    with pytest.raises(InvalidError):
        await registry.patch(DEPLOY, "web", "application/json-patch+json", failing, "default")
    with pytest.raises(InvalidError):  # validation still applies: an empty image
        bad = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": ""}]}}}}
        await registry.patch(DEPLOY, "web", "application/strategic-merge-patch+json", bad, "default")
    with pytest.raises(ConflictError):
        await registry.patch(
            DEPLOY, "web", "application/merge-patch+json", {"metadata": {"resourceVersion": "2"}}, "default"
        )
    with pytest.raises(Exception, match="unknown format") as unsupported:
        await registry.patch(DEPLOY, "web", "text/plain", {}, "default")
    assert getattr(unsupported.value, "code", None) == 415
    assert store.revision == rev


@pytest.mark.parametrize(
    "body",
    [
        {"metadata": "web-0"},
        {"metadata": {"name": 7}},
        {"metadata": {"name": "a", "namespace": ["default"]}},
        {"metadata": {"name": "a", "resourceVersion": 5}},
    ],
)
async def test_malformed_bodies_are_a_400_naming_the_field(
    registry: ResourceClient, store: kvstore.Store, body: dict[str, Any]
) -> None:
    """kube-apiserver decodes the body into ObjectMeta first: wrong shapes are 400 BadRequest, nothing written."""
    rev = store.revision
    for call in (registry.create(CMS, body, "default"), registry.update(CMS, body, "default")):
        with pytest.raises(BadRequestError, match="metadata"):
            await call
    assert store.revision == rev


async def test_a_paginated_list_at_a_resource_version_reads_exactly_it(
    registry: ResourceClient, store: kvstore.Store
) -> None:
    """kube-apiserver: resourceVersion N without resourceVersionMatch is NotOlderThan, but with
    limit (pagination) it is Exact, so a compacted N is 410 Gone (what makes a reflector relist at "")."""
    first = await registry.create(CMS, {"metadata": {"name": "a"}}, "default")
    rv = first["metadata"]["resourceVersion"]
    await registry.create(CMS, {"metadata": {"name": "b"}}, "default")
    page = await registry.list(CMS, "default", resource_version=rv, limit=10)
    assert [i["metadata"]["name"] for i in page["items"]] == ["a"] and page["metadata"]["resourceVersion"] == rv
    await store.compact(store.revision)
    assert len((await registry.list(CMS, "default", resource_version=rv))["items"]) == 2  # NotOlderThan
    with pytest.raises(GoneError):
        await registry.list(CMS, "default", resource_version=rv, limit=10)


async def test_an_object_over_the_request_limit_is_413_and_writes_nothing(
    registry: ResourceClient, store: kvstore.Store
) -> None:
    """kube-apiserver: a body over the storage limit is 413 RequestEntityTooLarge (etcd's
    "request is too large" translated by the registry, embedded and over gRPC alike)."""
    rev = store.revision
    endpoints = GroupVersionResource("", "v1", "endpoints")  # no per-kind size rule before the store's
    big = {"metadata": {"name": "big"}, "subsets": [{"note": "x" * (store.limits.max_request_bytes + 1)}]}
    with pytest.raises(RequestEntityTooLargeError) as info:
        await registry.create(endpoints, big, "default")
    assert info.value.code == 413 and "limit" in info.value.message
    assert store.revision == rev
    await registry.create(CMS, {"metadata": {"name": "small"}}, "default")  # and it goes on serving
