"""Validation per built-in kind: the entry point a registry strategy calls on create and update.

Each kind, keyed by `(group, kind)` (a `GroupKind` NamedTuple compares equal), has a scope,
a name rule (the `ValidateXName` kube uses for it) and optional spec rules; the rules live in
`validation_core` (core/v1) and `validation_workloads` (apps, batch), Lease and
CustomResourceDefinition here. Unknown kinds (custom resources) get metadata checks only,
with DNS-subdomain names. Every function returns all errors found, never only the first.

    >>> pod = {"metadata": {"name": "web", "namespace": "prod"}, "spec": {"containers": []}}
    >>> [str(e) for e in validate("", "Pod", pod)]
    ['spec.containers: Required value']
    >>> name_rule("", "Service")("1web", False)[0][:22]
    'a DNS-1035 label must '
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from apimachinery.errors import FieldError, invalid, required
from apimachinery.kinds import validation_core as core
from apimachinery.kinds import validation_workloads as workloads
from apimachinery.openapi_structural import validate_version
from apimachinery.validation import (
    NameRule,
    is_dns1035_label,
    is_dns1123_subdomain,
    name_is_dns1035_label,
    name_is_dns_label,
    name_is_dns_subdomain,
    validate_enum,
    validate_immutable_field,
    validate_object_meta,
    validate_object_meta_update,
)

SpecRule = Callable[[Mapping[str, Any]], list[FieldError]]
UpdateRule = Callable[[Mapping[str, Any], Mapping[str, Any]], list[FieldError]]


@dataclass(frozen=True, slots=True)
class KindRules:
    """What kube-apiserver checks for one kind."""

    namespaced: bool
    """True for namespaced kinds: metadata.namespace required; False: it must be empty."""
    name_rule: NameRule = name_is_dns_subdomain
    """The ValidateXName function for metadata.name (and generateName as a prefix)."""
    spec: SpecRule | None = None
    """Spec rules for a create (and, again, for an update)."""
    update: UpdateRule | None = None
    """Extra rules comparing new to old on update (immutable fields)."""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _validate_lease(obj: Mapping[str, Any]) -> list[FieldError]:
    """ValidateLeaseSpec: leaseDurationSeconds > 0 and leaseTransitions >= 0 when set."""
    spec = _mapping(obj.get("spec"))
    errs: list[FieldError] = []
    duration, transitions = spec.get("leaseDurationSeconds"), spec.get("leaseTransitions")
    if isinstance(duration, int) and duration <= 0:
        errs.append(invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    if isinstance(transitions, int) and transitions < 0:
        errs.append(invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
    return errs


def _crd_name_rule(obj: Mapping[str, Any]) -> NameRule:
    spec = _mapping(obj.get("spec"))
    wanted = f"{_mapping(spec.get('names')).get('plural', '')}.{spec.get('group', '')}"

    def rule(name: str, prefix: bool) -> list[str]:
        msgs = name_is_dns_subdomain(name, prefix)
        if name != wanted:
            msgs.append('must be spec.names.plural+"."+spec.group')
        return msgs

    return rule


def _validate_crd_names(names: Mapping[str, Any]) -> list[FieldError]:
    errs: list[FieldError] = []
    for key in ("plural", "kind"):
        if not names.get(key):
            errs.append(required(f"spec.names.{key}"))
    for key in ("plural", "singular"):
        value = names.get(key)
        if value and (msgs := is_dns1035_label(str(value))):
            errs.append(invalid(f"spec.names.{key}", value, ",".join(msgs)))
    for key in ("kind", "listKind"):
        value = names.get(key)
        if value and (msgs := is_dns1035_label(str(value).lower())):
            detail = "may have mixed case, but should otherwise match: " + ",".join(msgs)
            errs.append(invalid(f"spec.names.{key}", value, detail))
    if names.get("kind") and names.get("kind") == names.get("listKind"):
        errs.append(invalid("spec.names.listKind", names["listKind"], "kind and listKind may not be the same"))
    return errs


def _validate_crd(obj: Mapping[str, Any]) -> list[FieldError]:
    """validateCustomResourceDefinitionSpec (subset): group, scope, names, versions.

    singular and listKind are defaulted by kube before validation, so absence is accepted.
    Each version needs a structural openAPIV3Schema, and only known subresources (v1 rules).
    """
    spec = _mapping(obj.get("spec"))
    errs: list[FieldError] = []
    group = spec.get("group")
    if not group:
        errs.append(required("spec.group"))
    elif msgs := is_dns1123_subdomain(str(group)):
        errs.append(invalid("spec.group", group, ",".join(msgs)))
    elif len(str(group).split(".")) < 2:
        errs.append(invalid("spec.group", group, "should be a domain with at least one dot"))
    errs.extend(validate_enum(spec.get("scope"), "spec.scope", ("Cluster", "Namespaced")))
    versions = spec.get("versions")
    versions = [v for v in versions if isinstance(v, Mapping)] if isinstance(versions, list) else []
    seen: set[str] = set()
    for i, version in enumerate(versions):
        vname = str(version.get("name") or "")
        if msgs := is_dns1035_label(vname):
            errs.append(invalid(f"spec.versions[{i}].name", vname, ",".join(msgs)))
        if vname in seen:
            errs.append(
                invalid("spec.versions", [v.get("name") for v in versions], "must contain unique version names")
            )
        seen.add(vname)
        errs.extend(validate_version(version, f"spec.versions[{i}]"))
    if sum(1 for v in versions if v.get("storage") is True) != 1:
        shown = [v.get("name") for v in versions]
        errs.append(invalid("spec.versions", shown, "must have exactly one version marked as storage version"))
    errs.extend(_validate_crd_names(_mapping(spec.get("names"))))
    return errs


def _validate_crd_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    """spec.group and spec.names.plural make up the name, so they never change."""
    spec, old_spec = _mapping(new.get("spec")), _mapping(old.get("spec"))
    errs = validate_immutable_field(spec.get("group"), old_spec.get("group"), "spec.group")
    plural, old_plural = _mapping(spec.get("names")).get("plural"), _mapping(old_spec.get("names")).get("plural")
    errs.extend(validate_immutable_field(plural, old_plural, "spec.names.plural"))
    return errs


_APPS = "apps"
RULES: dict[tuple[str, str], KindRules] = {
    ("", "Pod"): KindRules(True, spec=core.validate_pod),
    ("", "Service"): KindRules(True, name_is_dns1035_label, core.validate_service),
    ("", "ConfigMap"): KindRules(True, spec=core.validate_config_map),
    ("", "Secret"): KindRules(True, spec=core.validate_secret),
    ("", "ServiceAccount"): KindRules(True),
    ("", "Endpoints"): KindRules(True),
    ("", "Event"): KindRules(True),
    ("", "Namespace"): KindRules(False, name_is_dns_label),
    ("", "Node"): KindRules(False),
    (_APPS, "Deployment"): KindRules(
        True, spec=workloads.validate_deployment, update=workloads.validate_selector_immutable
    ),
    (_APPS, "ReplicaSet"): KindRules(
        True, spec=workloads.validate_replica_set, update=workloads.validate_selector_immutable
    ),
    (_APPS, "DaemonSet"): KindRules(
        True, spec=workloads.validate_daemon_set, update=workloads.validate_selector_immutable
    ),
    (_APPS, "StatefulSet"): KindRules(
        True, name_is_dns_label, workloads.validate_stateful_set, workloads.validate_stateful_set_update
    ),
    ("batch", "Job"): KindRules(True, spec=workloads.validate_job, update=workloads.validate_job_update),
    ("batch", "CronJob"): KindRules(True, spec=workloads.validate_cron_job),
    ("coordination.k8s.io", "Lease"): KindRules(True, spec=_validate_lease),
    ("apiextensions.k8s.io", "CustomResourceDefinition"): KindRules(
        False, spec=_validate_crd, update=_validate_crd_update
    ),
}
"""Rules per built-in (group, kind). Absent kinds are custom resources: metadata only."""

_UNKNOWN = KindRules(namespaced=False)


def rules_for(group: str, kind: str) -> KindRules | None:
    """The rules of a built-in kind, or None for a kind this module does not know."""
    return RULES.get((group, kind))


def name_rule(group: str, kind: str) -> NameRule:
    """The name rule kube uses for this kind (DNS-1123 subdomain unless listed otherwise)."""
    rules = RULES.get((group, kind))
    return rules.name_rule if rules else name_is_dns_subdomain


def _scope(group: str, kind: str, namespaced: bool | None) -> bool | None:
    if namespaced is not None:
        return namespaced
    rules = RULES.get((group, kind))
    return rules.namespaced if rules else None


def validate(group: str, kind: str, obj: Mapping[str, Any], *, namespaced: bool | None = None) -> list[FieldError]:
    """Every error kube-apiserver would report creating `obj`: metadata, then spec.

    `namespaced` overrides the built-in scope; for unknown kinds pass the CRD's scope (None
    skips the namespace presence rule).
    """
    rules = RULES.get((group, kind), _UNKNOWN)
    rule = _crd_name_rule(obj) if (group, kind) == ("apiextensions.k8s.io", "CustomResourceDefinition") else None
    errs = validate_object_meta(
        obj.get("metadata"), namespaced=_scope(group, kind, namespaced), name_rule=rule or rules.name_rule
    )
    if rules.spec is not None:
        errs.extend(rules.spec(obj))
    return errs


def validate_update(
    group: str,
    kind: str,
    new: Mapping[str, Any],
    old: Mapping[str, Any],
    *,
    require_resource_version: bool = True,
) -> list[FieldError]:
    """Every error kube-apiserver would report updating `old` to `new`.

    Metadata update rules (identity immutable), the spec rules of a create, then the kind's
    immutability rules. A Pod's spec has its own update rules in place of the create rules.
    """
    rules = RULES.get((group, kind), _UNKNOWN)
    errs = validate_object_meta_update(
        new.get("metadata"), old.get("metadata"), require_resource_version=require_resource_version
    )
    if (group, kind) == ("", "Pod"):
        return errs + core.validate_pod_update(new, old)
    if rules.spec is not None:
        errs.extend(e for e in rules.spec(new) if e.field != "metadata.name")  # names are not revalidated
    if rules.update is not None:
        errs.extend(rules.update(new, old))
    return errs


__all__ = ["RULES", "KindRules", "name_rule", "rules_for", "validate", "validate_update"]
