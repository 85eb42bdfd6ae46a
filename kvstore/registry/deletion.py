"""Deleting an object, kube-apiserver's way: preconditions, finalizers, propagation policies.

A delete removes the key at once unless finalizers remain: then the object only gets
`deletionTimestamp` and stays until an update removes its last finalizer. Orphan and
Foreground propagation add the `orphan` / `foregroundDeletion` finalizer for the garbage
collector. Decide only, no I/O: the registry writes what these functions return.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apimachinery.errors import BadRequestError, ConflictError
from apimachinery.schema import ResourceInfo
from kvstore.registry.strategies.objects import copy_object, now_rfc3339

ORPHAN_FINALIZER = "orphan"
FOREGROUND_FINALIZER = "foregroundDeletion"
PROPAGATION_POLICIES = ("Orphan", "Background", "Foreground")


def check_options(propagation_policy: str, preconditions: Mapping[str, str]) -> None:
    """A delete's propagationPolicy and precondition fields must be known ones (kube: 400)."""
    if propagation_policy and propagation_policy not in PROPAGATION_POLICIES:
        raise BadRequestError(
            f'propagationPolicy: Unsupported value: "{propagation_policy}": supported values: '
            '"Foreground", "Background", "Orphan"'
        )
    unknown = set(preconditions) - {"uid", "resourceVersion"}
    if unknown:
        raise BadRequestError(f"preconditions: unknown fields {sorted(unknown)}")


def check_preconditions(info: ResourceInfo, name: str, obj: dict[str, Any], pre: Mapping[str, str]) -> None:
    """The stored object must have the precondition's uid and resourceVersion (409 Conflict)."""
    md = obj.get("metadata", {})
    if pre.get("uid") and pre["uid"] != md.get("uid"):
        why = f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {md.get('uid')}"
        raise ConflictError.for_resource(info.gvr.resource, info.gvr.group, name, why)
    if pre.get("resourceVersion") and pre["resourceVersion"] != md.get("resourceVersion"):
        why = (
            f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
            f"ResourceVersion in object meta: {md.get('resourceVersion')}"
        )
        raise ConflictError.for_resource(info.gvr.resource, info.gvr.group, name, why)


def mark_deleted(old: dict[str, Any], policy: str) -> dict[str, Any] | None:
    """None: delete now. Otherwise the object with deletionTimestamp and the policy's finalizer."""
    finalizers = list(old.get("metadata", {}).get("finalizers", []) or [])
    wanted = {"Orphan": ORPHAN_FINALIZER, "Foreground": FOREGROUND_FINALIZER}.get(policy)
    if wanted and wanted not in finalizers:
        finalizers.append(wanted)
    if policy in ("Orphan", "Foreground"):
        other = FOREGROUND_FINALIZER if policy == "Orphan" else ORPHAN_FINALIZER
        finalizers = [f for f in finalizers if f != other]
    if not finalizers:
        return None
    new = copy_object(old)
    md = new["metadata"]
    md["finalizers"] = finalizers
    if not md.get("deletionTimestamp"):
        md["deletionTimestamp"] = now_rfc3339()
        md["deletionGracePeriodSeconds"] = 0
    return new


def deletion_finished(obj: Mapping[str, Any]) -> bool:
    """Being deleted and no finalizer left: an update writing this removes the object instead
    (kube's shouldDeleteDuringUpdate)."""
    md = obj.get("metadata", {})
    return bool(md.get("deletionTimestamp")) and not md.get("finalizers")
