"""The built-in resources the registry serves, as kube-apiserver's discovery lists them.

Names, short names, scope and subresources follow `kubectl api-resources` on a current
cluster (core/v1, apps/v1, batch/v1, coordination.k8s.io/v1, apiextensions.k8s.io/v1).
"""

from __future__ import annotations

from apimachinery.schema import GroupVersionResource, ResourceInfo

STATUS = frozenset({"status"})
STATUS_SCALE = frozenset({"status", "scale"})


def _r(
    group: str,
    version: str,
    resource: str,
    kind: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    sub: frozenset[str] = frozenset(),
    categories: tuple[str, ...] = (),
) -> ResourceInfo:
    return ResourceInfo(
        gvr=GroupVersionResource(group, version, resource),
        kind=kind,
        namespaced=namespaced,
        singular=kind.lower(),
        short_names=short,
        subresources=sub,
        categories=categories,
    )


ALL = ("all",)

BUILTIN_RESOURCES: tuple[ResourceInfo, ...] = (
    # core/v1
    _r("", "v1", "pods", "Pod", short=("po",), sub=STATUS, categories=ALL),
    _r("", "v1", "nodes", "Node", namespaced=False, short=("no",), sub=STATUS),
    _r("", "v1", "namespaces", "Namespace", namespaced=False, short=("ns",), sub=STATUS),
    _r("", "v1", "services", "Service", short=("svc",), sub=STATUS, categories=ALL),
    _r("", "v1", "endpoints", "Endpoints", short=("ep",)),
    _r("", "v1", "configmaps", "ConfigMap", short=("cm",)),
    _r("", "v1", "secrets", "Secret"),
    _r("", "v1", "events", "Event", short=("ev",)),
    _r("", "v1", "serviceaccounts", "ServiceAccount", short=("sa",)),
    # apps/v1
    _r("apps", "v1", "deployments", "Deployment", short=("deploy",), sub=STATUS_SCALE, categories=ALL),
    _r("apps", "v1", "replicasets", "ReplicaSet", short=("rs",), sub=STATUS_SCALE, categories=ALL),
    _r("apps", "v1", "statefulsets", "StatefulSet", short=("sts",), sub=STATUS_SCALE, categories=ALL),
    _r("apps", "v1", "daemonsets", "DaemonSet", short=("ds",), sub=STATUS, categories=ALL),
    # batch/v1
    _r("batch", "v1", "jobs", "Job", sub=STATUS, categories=ALL),
    _r("batch", "v1", "cronjobs", "CronJob", short=("cj",), sub=STATUS, categories=ALL),
    # coordination.k8s.io/v1
    _r("coordination.k8s.io", "v1", "leases", "Lease"),
    # apiextensions.k8s.io/v1
    _r(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short=("crd", "crds"),
        sub=STATUS,
    ),
)

# Namespaces that exist from the start, as on a fresh cluster.
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
