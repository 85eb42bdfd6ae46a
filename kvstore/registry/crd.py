"""CustomResourceDefinitions: a stored CRD makes its group/version/resource served.

    CRD "widgets.example.com"                       served resources
      spec.group: example.com                        example.com/v1/widgets   (status subresource)
      spec.names: {plural: widgets, kind: Widget}    example.com/v1beta1/widgets
      spec.versions: [v1 (storage), v1beta1]

Every served version maps to the same keys (`/registry/example.com/widgets/...`): one
stored copy, read through any served version with its `apiVersion` relabelled (kube's
conversion strategy "None"). Objects are pruned of fields the version's
`openAPIV3Schema` does not declare, then validated against it. Deleting the CRD deletes
every object of the resource in the same transaction and stops serving it. The strategies
(kvstore.registry.strategies: crd.py, custom_resource.py) apply these rules on each write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apimachinery import meta
from apimachinery.errors import FieldError, invalid
from apimachinery.openapi_schema import as_mapping
from apimachinery.schema import GroupVersionResource, ResourceInfo, RESTMapper

CRDS = GroupVersionResource("apiextensions.k8s.io", "v1", "customresourcedefinitions")


@dataclass(frozen=True, slots=True)
class CustomResource:
    """One served version of a custom resource."""

    info: ResourceInfo
    crd_name: str
    """The CRD that serves it (`<plural>.<group>`)."""
    schema: Mapping[str, Any] | None
    """The version's `openAPIV3Schema` (None: no schema; only metadata is checked)."""


def served_resources(crd: Mapping[str, Any]) -> list[CustomResource]:
    """The resources a (valid) CRD serves: one per version marked `served`."""
    spec = as_mapping(crd.get("spec"))
    names = as_mapping(spec.get("names"))
    group, plural, kind = str(spec.get("group", "")), str(names.get("plural", "")), str(names.get("kind", ""))
    out = []
    for version in spec.get("versions") or []:
        version = as_mapping(version)
        if not version.get("served", True):
            continue
        subresources = frozenset(
            k for k in as_mapping(version.get("subresources")) if k == "status"
        )  # scale: not served
        info = ResourceInfo(
            gvr=GroupVersionResource(group, str(version.get("name", "")), plural),
            kind=kind,
            namespaced=spec.get("scope") == "Namespaced",
            singular=str(names.get("singular") or kind.lower()),
            short_names=tuple(str(n) for n in names.get("shortNames") or ()),
            subresources=subresources,
            categories=tuple(str(c) for c in names.get("categories") or ()),
        )
        schema = as_mapping(version.get("schema")).get("openAPIV3Schema")
        out.append(CustomResource(info, meta.name(crd), as_mapping(schema) or None))
    return out


def with_defaults(crd: dict[str, Any]) -> dict[str, Any]:
    """kube's CRD defaults: singular and listKind from the kind, versions served by default."""
    spec = crd.setdefault("spec", {})
    if not isinstance(spec, dict):
        return crd
    names = spec.get("names")
    if isinstance(names, dict) and isinstance(names.get("kind"), str) and names["kind"]:
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", names["kind"] + "List")
    for version in spec.get("versions") or []:
        if isinstance(version, dict):
            version.setdefault("served", True)
    return crd


def established_status(crd: Mapping[str, Any], now: str) -> dict[str, Any]:
    """The status a CRD gets once its names are accepted and its resource is served."""
    spec = as_mapping(crd.get("spec"))
    storage = [str(v.get("name")) for v in spec.get("versions") or [] if as_mapping(v).get("storage")]
    old = as_mapping(crd.get("status"))
    stored = list(old.get("storedVersions") or [])
    stored += [v for v in storage if v not in stored]
    conditions = [
        {"type": t, "status": "True", "lastTransitionTime": now, "reason": r, "message": m}
        for t, r, m in (
            ("NamesAccepted", "NoConflicts", "no conflicts found"),
            ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        )
    ]
    return {"acceptedNames": dict(as_mapping(spec.get("names"))), "conditions": conditions, "storedVersions": stored}


class CustomResources:
    """The custom resources currently served, kept in step with the stored CRDs."""

    def __init__(self, mapper: RESTMapper) -> None:
        self.mapper = mapper
        self._by_gvr: dict[GroupVersionResource, CustomResource] = {}
        self._by_crd: dict[str, list[GroupVersionResource]] = {}

    def get(self, gvr: GroupVersionResource) -> CustomResource | None:
        return self._by_gvr.get(gvr)

    def conflicts(self, crd: Mapping[str, Any]) -> list[FieldError]:
        """Names the CRD would take from a built-in resource or from another CRD."""
        name = meta.name(crd)
        errs: list[FieldError] = []
        for cr in served_resources(crd):
            gvr, kind = cr.info.gvr, cr.info.kind
            other = self._by_gvr.get(gvr)
            if gvr in self.mapper and (other is None or other.crd_name != name):
                errs.append(invalid("spec.names.plural", gvr.resource, f"{gvr} is already served"))
            for info in self.mapper:
                owner = self._by_gvr.get(info.gvr)
                mine = owner is not None and owner.crd_name == name
                if not mine and info.gvr.group == gvr.group and info.kind == kind and info.gvr.resource != gvr.resource:
                    errs.append(
                        invalid("spec.names.kind", kind, f"{info.gvr.resource}.{gvr.group} already uses this kind")
                    )
                    break
        return errs

    def register(self, crd: Mapping[str, Any]) -> None:
        """Serve what `crd` declares now (replacing what an earlier state of it served)."""
        name = meta.name(crd)
        self.unregister(name)
        gvrs = []
        for cr in served_resources(crd):
            self.mapper.add(cr.info)
            self._by_gvr[cr.info.gvr] = cr
            gvrs.append(cr.info.gvr)
        self._by_crd[name] = gvrs

    def unregister(self, crd_name: str) -> None:
        for gvr in self._by_crd.pop(crd_name, []):
            self.mapper.remove(gvr)
            self._by_gvr.pop(gvr, None)
