"""Per-kind rules applied before a write, as kube-apiserver's REST strategies apply them.

Decide only, no I/O: each function takes the incoming object (and the stored one) and
returns what to store. `metadata.generation` counts spec changes; for kinds with a
`status` subresource the main resource ignores status and the subresource ignores all
but status.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from apimachinery import meta
from apimachinery.schema import ResourceInfo

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # no vowels, no look-alikes, as kube's name generator


def copy_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy sharing nothing with `obj` (the store's copy must never be mutated)."""
    out: dict[str, Any] = meta.deep_copy(dict(obj))
    return out


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate_name(base: str) -> str:
    """`generateName` plus five random characters; the base is cut so the name fits in 63."""
    return base[:58] + "".join(secrets.choice(_NAME_CHARS) for _ in range(5))


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


def prepare_for_create(info: ResourceInfo, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The object to store for a create: identity, timestamps, generation 1, status reset."""
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
    for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
        md.pop(field, None)
    if info.has_status:
        status = _initial_status(info, obj)
        if status:
            obj["status"] = status
        else:
            obj.pop("status", None)
    return obj


def prepare_for_update(
    info: ResourceInfo, new: dict[str, Any], old: dict[str, Any], *, custom: bool = False
) -> dict[str, Any]:
    """The object to store for an update of the main resource.

    `generation` counts changes of `spec`; for a custom resource (`custom`) of anything
    but metadata (and status, when status is a subresource), as kube does for CRs.
    """
    new = copy_object(new)
    md = new.setdefault("metadata", {})
    old_md = old.get("metadata", {})
    gvk = info.gvk
    new["apiVersion"], new["kind"] = gvk.api_version, gvk.kind
    for field in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace"):
        if field in old_md:
            md[field] = old_md[field]
        else:
            md.pop(field, None)
    if info.has_status:
        if "status" in old:
            new["status"] = meta.deep_copy(old["status"])
        else:
            new.pop("status", None)
    if custom:
        changed = _content(new, info.has_status) != _content(old, info.has_status)
    else:
        changed = new.get("spec") != old.get("spec")
    _bump_generation(new, old, spec_changed=changed)
    return new


def _content(obj: dict[str, Any], has_status: bool) -> dict[str, Any]:
    skip = ("metadata", "apiVersion", "kind", "status") if has_status else ("metadata", "apiVersion", "kind")
    return {k: v for k, v in obj.items() if k not in skip}


def prepare_for_status_update(info: ResourceInfo, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """The object to store for an update of the `status` subresource: the old one, new status."""
    stored = copy_object(old)
    if "status" in new:
        stored["status"] = meta.deep_copy(new["status"])
    else:
        stored.pop("status", None)
    return stored


def _bump_generation(new: dict[str, Any], old: dict[str, Any], *, spec_changed: bool) -> None:
    old_gen = int(old.get("metadata", {}).get("generation", 1) or 1)
    new_md = new.setdefault("metadata", {})
    new_md["generation"] = old_gen + 1 if spec_changed else old_gen
    # A change of the deletion state (set by delete only) never bumps generation here.


def scale_of(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale view of a deployment, replicaset or statefulset."""
    md = obj.get("metadata", {})
    selector = obj.get("spec", {}).get("selector") or {}
    labels = selector.get("matchLabels", {}) if isinstance(selector, dict) else {}
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in md},
        "spec": {"replicas": int(obj.get("spec", {}).get("replicas", 1))},
        "status": {
            "replicas": int(obj.get("status", {}).get("replicas", 0)),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


def apply_scale(obj: dict[str, Any], replicas: int) -> dict[str, Any]:
    out = copy_object(obj)
    out.setdefault("spec", {})["replicas"] = replicas
    _bump_generation(out, obj, spec_changed=replicas != obj.get("spec", {}).get("replicas", 1))
    return out
