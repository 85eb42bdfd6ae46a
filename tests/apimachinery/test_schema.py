"""REST mapper and paths: kubectl's resource names and kube-apiserver's URL layout."""

from __future__ import annotations

import pytest

from apimachinery.errors import NotFoundError
from apimachinery.kinds.builtin import BUILTIN_RESOURCES
from apimachinery.paths import RequestPath, parse_path, resource_path
from apimachinery.schema import GroupVersionKind, GroupVersionResource, ResourceInfo, RESTMapper

PODS = GroupVersionResource("", "v1", "pods")
DEPLOY = GroupVersionResource("apps", "v1", "deployments")
NAMESPACES = GroupVersionResource("", "v1", "namespaces")


@pytest.mark.parametrize(
    ("typed", "gvr"),
    [
        ("pods", PODS),
        ("pod", PODS),
        ("po", PODS),
        ("Pod", PODS),
        ("deploy", DEPLOY),
        ("deployments.apps", DEPLOY),
        ("deployments.v1.apps", DEPLOY),
        ("crd", GroupVersionResource("apiextensions.k8s.io", "v1", "customresourcedefinitions")),
        ("leases", GroupVersionResource("coordination.k8s.io", "v1", "leases")),
        ("cj", GroupVersionResource("batch", "v1", "cronjobs")),
        ("endpoints", GroupVersionResource("", "v1", "endpoints")),
    ],
)
def test_resource_names_resolve_as_kubectl_resolves_them(typed: str, gvr: GroupVersionResource) -> None:
    """kubectl: plural, singular, kind and short names, optionally qualified by group (and version)."""
    assert RESTMapper.with_builtins().resource_for(typed).gvr == gvr


def test_unknown_names_are_not_found() -> None:
    with pytest.raises(NotFoundError, match="doesn't have a resource type"):
        RESTMapper.with_builtins().resource_for("widgets")
    with pytest.raises(NotFoundError):
        RESTMapper.with_builtins().resource_for("pods.apps")


def test_kinds_map_to_resources_and_back() -> None:
    m = RESTMapper.with_builtins()
    for info in BUILTIN_RESOURCES:
        assert m.kind_for(info.gvr) == info.gvk
        assert m.resource_for_kind(info.gvk) is info
    assert m.kind_for(DEPLOY).api_version == "apps/v1"
    assert GroupVersionKind.from_api_version("v1", "Pod") == GroupVersionKind("", "v1", "Pod")


def test_scope_and_subresources_follow_discovery() -> None:
    """kubectl api-resources: nodes, namespaces and CRDs are cluster-scoped; scale on the three workloads."""
    m = RESTMapper.with_builtins()
    cluster = {i.gvr.resource for i in m if not i.namespaced}
    assert cluster == {"nodes", "namespaces", "customresourcedefinitions"}
    scaled = {i.gvr.resource for i in m if i.has_scale}
    assert scaled == {"deployments", "replicasets", "statefulsets"}
    assert not m.info(GroupVersionResource("", "v1", "configmaps")).has_status


def test_custom_resources_come_and_go() -> None:
    m = RESTMapper.with_builtins()
    crontabs = GroupVersionResource("stable.example.com", "v1", "crontabs")
    m.add(ResourceInfo(crontabs, "CronTab", True, "crontab", ("ct",)))
    assert m.resource_for("ct").gvr == crontabs
    m.remove(crontabs)
    with pytest.raises(NotFoundError):
        m.info(crontabs)


@pytest.mark.parametrize(
    ("path", "parsed"),
    [
        ("/api/v1/namespaces/default/pods/web-0", RequestPath(PODS, "default", "web-0")),
        ("/api/v1/pods", RequestPath(PODS)),
        ("/api/v1/namespaces/default/pods", RequestPath(PODS, "default")),
        (
            "/api/v1/namespaces/kube-system",
            RequestPath(NAMESPACES, "", "kube-system"),
        ),
        ("/apis/apps/v1/namespaces/ns1/deployments/web/scale", RequestPath(DEPLOY, "ns1", "web", "scale")),
        ("/api/v1/nodes/n1/status", RequestPath(GroupVersionResource("", "v1", "nodes"), "", "n1", "status")),
    ],
)
def test_paths_parse_and_print_like_kube_apiserver(path: str, parsed: RequestPath) -> None:
    m = RESTMapper.with_builtins()
    assert parse_path(path, m) == parsed
    assert resource_path(*parsed) == path


@pytest.mark.parametrize(
    "path",
    ["/api", "/apis/apps/v1/widgets", "/api/v1/namespaces/default/nodes/n1", "/api/v1/configmaps/x/scale", "/x/y"],
)
def test_paths_nothing_serves_are_not_found(path: str) -> None:
    with pytest.raises(NotFoundError):
        parse_path(path, RESTMapper.with_builtins())
