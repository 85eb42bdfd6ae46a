"""The strategy of built-in kinds: kube-apiserver's generic rules for a write.

Create fills identity (uid, creationTimestamp, generateName), starts `generation` at 1
and resets status; update keeps identity and counts spec changes in `generation`; for
kinds with a `status` subresource the main resource ignores status and the subresource
ignores all but status. Validation is the kind's rules (apimachinery.kinds.validation).
The other strategies extend this one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from apimachinery import meta
from apimachinery.errors import FieldError
from apimachinery.kinds import validation as kind_validation
from apimachinery.schema import ResourceInfo
from kvstore.messages import DeleteRangeRequest, RequestOp
from kvstore.registry.strategies.objects import bump_generation, copy_object, generate_name, now_rfc3339

_KEPT_ON_UPDATE = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace")
_CLEARED_ON_CREATE = ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink")


@dataclass(frozen=True, slots=True)
class DefaultStrategy:
    """kube-apiserver's rules for a built-in resource (and the base of the others)."""

    info: ResourceInfo

    def prepare_for_create(self, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
        """Identity, timestamps, generation 1, status reset (kube's PrepareForCreate)."""
        info = self.info
        obj = copy_object(obj)
        md = obj.setdefault("metadata", {})
        gvk = info.gvk
        obj["apiVersion"] = gvk.api_version
        obj["kind"] = gvk.kind
        if info.namespaced:
            md["namespace"] = namespace
        else:
            md.pop("namespace", None)
        if not md.get("name") and md.get("generateName"):
            md["name"] = generate_name(str(md["generateName"]))
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = now_rfc3339()
        md["generation"] = 1
        for field in _CLEARED_ON_CREATE:
            md.pop(field, None)
        if info.has_status:
            status = _initial_status(info, obj)
            if status:
                obj["status"] = status
            else:
                obj.pop("status", None)
        return obj

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """Identity and (with a status subresource) status kept from `old`; `generation`
        counts what `bumps_generation` says changed (kube's PrepareForUpdate)."""
        info = self.info
        new = copy_object(new)
        md = new.setdefault("metadata", {})
        old_md = old.get("metadata", {})
        gvk = info.gvk
        new["apiVersion"], new["kind"] = gvk.api_version, gvk.kind
        for field in _KEPT_ON_UPDATE:
            if field in old_md:
                md[field] = old_md[field]
            else:
                md.pop(field, None)
        if info.has_status:
            if "status" in old:
                new["status"] = meta.deep_copy(old["status"])
            else:
                new.pop("status", None)
        bump_generation(new, old, changed=self.bumps_generation(new, old))
        return new

    def bumps_generation(self, new: dict[str, Any], old: dict[str, Any]) -> bool:
        """Whether an update from `old` to `new` is a new generation: a change of spec."""
        return bool(new.get("spec") != old.get("spec"))

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        """The stored object with `new`'s status (kube's status strategy PrepareForUpdate)."""
        stored = copy_object(old)
        if "status" in new:
            stored["status"] = meta.deep_copy(new["status"])
        else:
            stored.pop("status", None)
        return stored

    def validate(self, obj: dict[str, Any]) -> list[FieldError]:
        """The kind's create rules: metadata, then spec."""
        info = self.info
        return kind_validation.validate(info.gvr.group, info.kind, obj, namespaced=info.namespaced)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
        """The kind's update rules (identity and immutable fields)."""
        info = self.info
        return kind_validation.validate_update(info.gvr.group, info.kind, new, old, require_resource_version=False)

    def canonicalize(self, obj: dict[str, Any]) -> dict[str, Any]:
        return obj

    def delete_ops(self, key: bytes, obj: dict[str, Any]) -> list[RequestOp]:
        """Only the object's key."""
        return [DeleteRangeRequest(key)]

    def after_create(self, obj: dict[str, Any]) -> None:
        return None

    def after_update(self, obj: dict[str, Any]) -> None:
        return None

    def after_delete(self, obj: dict[str, Any]) -> None:
        return None


def _initial_status(info: ResourceInfo, obj: dict[str, Any]) -> Any:
    """What status a new object starts with (core kinds only; everything else: none)."""
    if info.gvr.group:
        return {}
    if info.kind == "Pod":
        return {"phase": "Pending"}
    if info.kind == "Namespace":
        return {"phase": "Active"}
    if info.kind == "Node":
        return obj.get("status", {})  # a node (our simulated kubelet) reports its status at once
    return {}
