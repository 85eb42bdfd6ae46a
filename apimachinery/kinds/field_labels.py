"""Selectable fields of the built-in kinds: what `?fieldSelector=` may name, and each field's value.

kube-apiserver answers two questions per kind, in two places, and so do we:

* which field names a request may use: the field-label conversion functions registered per kind
  (pkg/apis/core/v1/conversion.go, pkg/apis/batch/v1/conversion.go, ...). A kind without one
  (ReplicaSet, Deployment, every custom resource) accepts only `metadata.name` and
  `metadata.namespace`. Anything else is rejected with 400 `field label not supported: <field>`.
  Pods also accept `spec.host`, an old spelling of `spec.nodeName`.
* the value of each field for one object: the `...ToSelectableFields` / `GetAttrs` functions
  in pkg/registry/<group>/<kind>/strategy.go. Values are strings: Go zero values where the
  object omits a field (`""`, `"false"`, `"0"`), booleans as `true`/`false`, integers in decimal.

Objects are plain Kubernetes JSON dicts. The table is keyed by `(group, kind)`; a `GroupKind`
NamedTuple compares equal to such a tuple.

    >>> pod = {"metadata": {"name": "web-0", "namespace": "default"}, "spec": {"nodeName": "n1"}}
    >>> field_set("", "Pod", pod)["spec.nodeName"], field_set("", "Pod", pod)["spec.hostNetwork"]
    ('n1', 'false')
    >>> sorted(supported_fields("", "Node"))
    ['metadata.name', 'spec.unschedulable']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apimachinery.errors import BadRequestError
from apimachinery.fields import FieldSelector

Extractor = Callable[[Mapping[str, Any]], dict[str, str]]

NAME = "metadata.name"
NAMESPACE = "metadata.namespace"


def _get(obj: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None when any step is missing or not an object."""
    current: Any = obj
    for step in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(step)
    return current


def _str(obj: Mapping[str, Any], path: str) -> str:
    value = _get(obj, path)
    return "" if value is None else str(value)


def _bool(obj: Mapping[str, Any], path: str) -> str:
    """strconv.FormatBool of a Go bool: a missing field is false."""
    return "true" if _get(obj, path) is True else "false"


def _int(obj: Mapping[str, Any], path: str) -> str:
    """strconv.Itoa of a Go int32: a missing field is 0."""
    value = _get(obj, path)
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "0"


def _pod(obj: Mapping[str, Any]) -> dict[str, str]:
    # The internal pod keeps only podIPs; v1's podIP converts into podIPs[0] when podIPs is empty.
    pod_ips = _get(obj, "status.podIPs")
    first_ip = pod_ips[0] if isinstance(pod_ips, list) and pod_ips else None
    pod_ip = _str(first_ip, "ip") if isinstance(first_ip, Mapping) else _str(obj, "status.podIP")
    return {
        "spec.nodeName": _str(obj, "spec.nodeName"),
        "spec.restartPolicy": _str(obj, "spec.restartPolicy"),
        "spec.schedulerName": _str(obj, "spec.schedulerName"),
        "spec.serviceAccountName": _str(obj, "spec.serviceAccountName"),
        "spec.hostNetwork": _bool(obj, "spec.hostNetwork"),
        "status.phase": _str(obj, "status.phase"),
        "status.podIP": pod_ip,
        "status.nominatedNodeName": _str(obj, "status.nominatedNodeName"),
    }


def _event(obj: Mapping[str, Any]) -> dict[str, str]:
    fields = {f"involvedObject.{k}": _str(obj, f"involvedObject.{k}") for k in _INVOLVED_OBJECT_KEYS}
    reporting = _str(obj, "reportingComponent")  # core/v1 JSON name of Event.ReportingController
    fields.update(
        reason=_str(obj, "reason"),
        reportingComponent=reporting,
        source=_str(obj, "source.component") or reporting,
        type=_str(obj, "type"),
    )
    return fields


_INVOLVED_OBJECT_KEYS = ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")


def _fields_of(**paths: Callable[[Mapping[str, Any]], str]) -> Extractor:
    return lambda obj: {name: get(obj) for name, get in paths.items()}


def _at(path: str, convert: Callable[[Mapping[str, Any], str], str] = _str) -> Callable[[Mapping[str, Any]], str]:
    return lambda obj: convert(obj, path)


@dataclass(frozen=True, slots=True)
class KindFields:
    """How one kind exposes fields to field selectors."""

    namespaced: bool
    """Whether objects of the kind live in a namespace (then `metadata.namespace` is selectable)."""
    extract: Extractor
    """Kind-specific fields of one object (ToSelectableFields less the metadata ones)."""
    accepted: frozenset[str]
    """Kind-specific field names a selector may use (the field-label conversion's list)."""
    aliases: Mapping[str, str] = field(default_factory=dict)
    """Old field names accepted and rewritten to their current name."""

    def supported(self) -> frozenset[str]:
        meta = {NAME, NAMESPACE} if self.namespaced else {NAME}
        return frozenset(meta) | self.accepted | frozenset(self.aliases)


def _no_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    return {}


_POD_FIELDS = frozenset(_pod({})) | {"status.podIPs"}  # podIPs is accepted but never set: it matches as ""
_EVENT_FIELDS = frozenset(_event({}))

KIND_FIELDS: Mapping[tuple[str, str], KindFields] = {
    ("", "Pod"): KindFields(True, _pod, _POD_FIELDS, {"spec.host": "spec.nodeName"}),
    ("", "Node"): KindFields(
        False, _fields_of(**{"spec.unschedulable": _at("spec.unschedulable", _bool)}), frozenset({"spec.unschedulable"})
    ),
    # "name" duplicates metadata.name in the field set (a kept bug), but the conversion rejects it.
    ("", "Namespace"): KindFields(
        False,
        _fields_of(**{"status.phase": _at("status.phase"), "name": _at("metadata.name")}),
        frozenset({"status.phase"}),
    ),
    ("", "Secret"): KindFields(True, _fields_of(type=_at("type")), frozenset({"type"})),
    ("", "Event"): KindFields(True, _event, _EVENT_FIELDS),
    ("", "ReplicationController"): KindFields(
        True, _fields_of(**{"status.replicas": _at("status.replicas", _int)}), frozenset({"status.replicas"})
    ),
    ("", "Service"): KindFields(
        True,
        _fields_of(**{"spec.clusterIP": _at("spec.clusterIP"), "spec.type": _at("spec.type")}),
        frozenset({"spec.clusterIP", "spec.type"}),
    ),
    # The ReplicaSet strategy computes status.replicas, but apps/v1 registers no field-label
    # conversion, so kube-apiserver rejects a selector on it (kubernetes/kubernetes#135136).
    ("apps", "ReplicaSet"): KindFields(
        True, _fields_of(**{"status.replicas": _at("status.replicas", _int)}), frozenset()
    ),
    ("batch", "Job"): KindFields(
        True, _fields_of(**{"status.successful": _at("status.succeeded", _int)}), frozenset({"status.successful"})
    ),
    ("certificates.k8s.io", "CertificateSigningRequest"): KindFields(
        False, _fields_of(**{"spec.signerName": _at("spec.signerName")}), frozenset({"spec.signerName"})
    ),
}

# Any other kind, custom resources included: the object metadata fields only.
_DEFAULT = KindFields(True, _no_fields, frozenset())


def kind_fields(group: str, kind: str) -> KindFields:
    """The entry for a kind, or the metadata-only default for kinds not in the table."""
    return KIND_FIELDS.get((group, kind), _DEFAULT)


def field_set(group: str, kind: str, obj: Mapping[str, Any]) -> dict[str, str]:
    """The selectable fields of `obj` and their string values (a `fields.Set`)."""
    spec = kind_fields(group, kind)
    out = {NAME: _str(obj, "metadata.name")}
    if spec.namespaced:
        out[NAMESPACE] = _str(obj, "metadata.namespace")
    out.update(spec.extract(obj))
    return out


def supported_fields(group: str, kind: str) -> frozenset[str]:
    """The field names a field selector on this kind may use."""
    return kind_fields(group, kind).supported()


def check_selector(group: str, kind: str, selector: FieldSelector) -> FieldSelector:
    """Reject a selector naming an unsupported field, as kube-apiserver does (400 BadRequest).

    Returns the selector with deprecated field names rewritten (`spec.host` -> `spec.nodeName`),
    ready to match against `field_set()`.
    """
    spec = kind_fields(group, kind)
    allowed = spec.supported()
    for requirement in selector.requirements:
        if requirement.field not in allowed:
            raise BadRequestError(f"field label not supported: {requirement.field}")
    if not spec.aliases:
        return selector
    return selector.transform(lambda f, v: (spec.aliases.get(f, f), v))


__all__ = [
    "KIND_FIELDS",
    "KindFields",
    "check_selector",
    "field_set",
    "kind_fields",
    "supported_fields",
]
