"""Selectable fields per kind, against kube-apiserver: the `...ToSelectableFields` / `GetAttrs`
functions in pkg/registry/*/strategy.go (values) and the field-label conversion functions in
pkg/apis/*/v1/conversion.go (which names a request may use)."""

from __future__ import annotations

from typing import Any

import pytest

from apimachinery.errors import BadRequestError
from apimachinery.fields import parse_field_selector
from apimachinery.kinds.field_labels import check_selector, field_set, supported_fields

POD: dict[str, Any] = {
    "metadata": {"name": "web-0", "namespace": "prod"},
    "spec": {
        "nodeName": "node-1",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "serviceAccountName": "builder",
        "hostNetwork": True,
    },
    "status": {
        "phase": "Running",
        "podIP": "10.0.0.9",
        "podIPs": [{"ip": "10.0.0.7"}, {"ip": "fd00::7"}],
        "nominatedNodeName": "node-2",
    },
}

EVENT: dict[str, Any] = {
    "metadata": {"name": "web-0.17a", "namespace": "prod"},
    "involvedObject": {
        "kind": "Pod",
        "namespace": "prod",
        "name": "web-0",
        "uid": "u-1",
        "apiVersion": "v1",
        "resourceVersion": "42",
        "fieldPath": "spec.containers{web}",
    },
    "reason": "Scheduled",
    "reportingComponent": "default-scheduler",
    "source": {"component": "kubelet"},
    "type": "Normal",
}

FIELD_SET_CASES: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
    (
        "",
        "Pod",
        POD,
        {
            "metadata.name": "web-0",
            "metadata.namespace": "prod",
            "spec.nodeName": "node-1",
            "spec.restartPolicy": "Always",
            "spec.schedulerName": "default-scheduler",
            "spec.serviceAccountName": "builder",
            "spec.hostNetwork": "true",
            "status.phase": "Running",
            "status.podIP": "10.0.0.7",  # podIPs[0] wins, as in the internal pod
            "status.nominatedNodeName": "node-2",
        },
    ),
    (
        "",
        "Node",
        {"metadata": {"name": "n1"}, "spec": {"unschedulable": True}},
        {"metadata.name": "n1", "spec.unschedulable": "true"},
    ),
    (
        "",
        "Namespace",
        {"metadata": {"name": "prod"}, "status": {"phase": "Terminating"}},
        {"metadata.name": "prod", "name": "prod", "status.phase": "Terminating"},
    ),
    (
        "",
        "Secret",
        {"metadata": {"name": "s", "namespace": "prod"}, "type": "kubernetes.io/tls"},
        {"metadata.name": "s", "metadata.namespace": "prod", "type": "kubernetes.io/tls"},
    ),
    (
        "",
        "Event",
        EVENT,
        {
            "metadata.name": "web-0.17a",
            "metadata.namespace": "prod",
            "involvedObject.kind": "Pod",
            "involvedObject.namespace": "prod",
            "involvedObject.name": "web-0",
            "involvedObject.uid": "u-1",
            "involvedObject.apiVersion": "v1",
            "involvedObject.resourceVersion": "42",
            "involvedObject.fieldPath": "spec.containers{web}",
            "reason": "Scheduled",
            "reportingComponent": "default-scheduler",
            "source": "kubelet",
            "type": "Normal",
        },
    ),
    (
        "",
        "ReplicationController",
        {"metadata": {"name": "rc", "namespace": "prod"}, "status": {"replicas": 3}},
        {"metadata.name": "rc", "metadata.namespace": "prod", "status.replicas": "3"},
    ),
    (
        "",
        "Service",
        {"metadata": {"name": "svc", "namespace": "prod"}, "spec": {"clusterIP": "10.96.0.1", "type": "ClusterIP"}},
        {"metadata.name": "svc", "metadata.namespace": "prod", "spec.clusterIP": "10.96.0.1", "spec.type": "ClusterIP"},
    ),
    (
        "apps",
        "ReplicaSet",
        {"metadata": {"name": "rs", "namespace": "prod"}, "status": {"replicas": 2}},
        {"metadata.name": "rs", "metadata.namespace": "prod", "status.replicas": "2"},
    ),
    (
        "batch",
        "Job",
        {"metadata": {"name": "j", "namespace": "prod"}, "status": {"succeeded": 5}},
        {"metadata.name": "j", "metadata.namespace": "prod", "status.successful": "5"},
    ),
    (
        "certificates.k8s.io",
        "CertificateSigningRequest",
        {"metadata": {"name": "csr-1"}, "spec": {"signerName": "kubernetes.io/kubelet-serving"}},
        {"metadata.name": "csr-1", "spec.signerName": "kubernetes.io/kubelet-serving"},
    ),
    (
        "example.com",
        "Widget",
        {"metadata": {"name": "w", "namespace": "prod"}, "spec": {"size": 3}},
        {"metadata.name": "w", "metadata.namespace": "prod"},
    ),
]


@pytest.mark.parametrize(
    ("group", "kind", "obj", "want"), FIELD_SET_CASES, ids=lambda v: v if isinstance(v, str) else ""
)
def test_field_set_like_to_selectable_fields(group: str, kind: str, obj: dict[str, Any], want: dict[str, str]) -> None:
    """Each kind's ToSelectableFields / GetAttrs: names and string values of the selectable fields."""
    assert field_set(group, kind, obj) == want


ZERO_VALUE_CASES: list[tuple[str, str, dict[str, str]]] = [
    (
        "",
        "Pod",
        {"spec.hostNetwork": "false", "spec.nodeName": "", "status.podIP": "", "metadata.namespace": ""},
    ),
    ("", "Node", {"spec.unschedulable": "false"}),
    ("apps", "ReplicaSet", {"status.replicas": "0"}),
    ("batch", "Job", {"status.successful": "0"}),
    ("", "Event", {"source": "", "reason": ""}),
]


@pytest.mark.parametrize(("group", "kind", "want"), ZERO_VALUE_CASES)
def test_missing_fields_read_as_go_zero_values(group: str, kind: str, want: dict[str, str]) -> None:
    """A field the object omits is the Go zero value: "" for strings, "false" for bools, "0" for ints."""
    values = field_set(group, kind, {"metadata": {"name": "x"}})
    assert {k: values[k] for k in want} == want


def test_pod_ip_falls_back_to_status_pod_ip() -> None:
    """Without status.podIPs, v1's status.podIP is the pod's first IP (v1 -> internal conversion)."""
    pod = {"metadata": {"name": "p"}, "status": {"podIP": "10.1.1.1"}}
    assert field_set("", "Pod", pod)["status.podIP"] == "10.1.1.1"


def test_event_source_falls_back_to_reporting_component() -> None:
    """Event `source` is source.component, or reportingComponent when that is empty."""
    event = {"metadata": {"name": "e"}, "reportingComponent": "ctrl"}
    assert field_set("", "Event", event)["source"] == "ctrl"


SUPPORTED_CASES: list[tuple[str, str, set[str]]] = [
    (
        "",
        "Pod",
        {
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
            "spec.host",
        },
    ),
    ("", "Node", {"metadata.name", "spec.unschedulable"}),
    ("", "Namespace", {"metadata.name", "status.phase"}),
    ("", "Secret", {"metadata.name", "metadata.namespace", "type"}),
    ("", "ReplicationController", {"metadata.name", "metadata.namespace", "status.replicas"}),
    ("", "Service", {"metadata.name", "metadata.namespace", "spec.clusterIP", "spec.type"}),
    ("apps", "ReplicaSet", {"metadata.name", "metadata.namespace"}),
    ("batch", "Job", {"metadata.name", "metadata.namespace", "status.successful"}),
    ("certificates.k8s.io", "CertificateSigningRequest", {"metadata.name", "spec.signerName"}),
    ("apps", "Deployment", {"metadata.name", "metadata.namespace"}),
    ("example.com", "Widget", {"metadata.name", "metadata.namespace"}),
]


@pytest.mark.parametrize(("group", "kind", "want"), SUPPORTED_CASES)
def test_supported_fields_like_field_label_conversion(group: str, kind: str, want: set[str]) -> None:
    """The names each kind's field-label conversion accepts (metadata-only for kinds without one)."""
    assert supported_fields(group, kind) == frozenset(want)


def test_event_supports_every_involved_object_field() -> None:
    """AddFieldLabelConversionsForEvent accepts the involvedObject.* fields, reason, source, type, ..."""
    want = {f"involvedObject.{k}" for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion")}
    want |= {"involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"}
    want |= {"metadata.name", "metadata.namespace"}
    assert supported_fields("", "Event") == frozenset(want)


def test_group_kind_tuple_keys() -> None:
    """The table is keyed by (group, kind): a kind name alone in another group is not the same kind."""
    assert "status.successful" in supported_fields("batch", "Job")
    assert "status.successful" not in supported_fields("", "Job")


UNSUPPORTED_CASES = [
    ("", "Pod", "spec.containers=x", "spec.containers"),
    ("", "Pod", "metadata.name=a,status.hostIP=1", "status.hostIP"),
    ("", "Node", "metadata.namespace=x", "metadata.namespace"),  # cluster-scoped
    ("", "Namespace", "name=x", "name"),  # in the field set, but the conversion rejects it
    ("apps", "ReplicaSet", "status.replicas=0", "status.replicas"),  # kubernetes/kubernetes#135136
    ("example.com", "Widget", "spec.size=3", "spec.size"),
    ("", "Secret", " type=x", " type"),  # no trimming: the name includes the space
]


@pytest.mark.parametrize(("group", "kind", "text", "bad"), UNSUPPORTED_CASES)
def test_unsupported_field_is_rejected_like_kube_apiserver(group: str, kind: str, text: str, bad: str) -> None:
    """kube-apiserver answers 400 `field label not supported: <field>` for a field the kind lacks."""
    with pytest.raises(BadRequestError) as info:
        check_selector(group, kind, parse_field_selector(text))
    assert info.value.code == 400
    assert info.value.message == f"field label not supported: {bad}"


def test_check_selector_rewrites_spec_host_to_spec_node_name() -> None:
    """Pods accept the old `spec.host` and convert it to `spec.nodeName` (core/v1 conversion.go)."""
    sel = check_selector("", "Pod", parse_field_selector("spec.host=node-1"))
    assert str(sel) == "spec.nodeName=node-1"
    assert sel.matches(field_set("", "Pod", POD))


def test_checked_selector_filters_objects_by_their_field_set() -> None:
    """A selector that passes the check selects objects through field_set, e.g. pods on a node."""
    sel = check_selector("", "Pod", parse_field_selector("spec.nodeName=node-1,status.phase!=Succeeded"))
    assert sel == parse_field_selector("spec.nodeName=node-1,status.phase!=Succeeded")
    assert sel.matches(field_set("", "Pod", POD))
    assert not sel.matches(field_set("", "Pod", {"metadata": {"name": "unscheduled"}}))
    unscheduled = check_selector("", "Pod", parse_field_selector("spec.nodeName="))
    assert unscheduled.matches(field_set("", "Pod", {"metadata": {"name": "unscheduled"}}))
