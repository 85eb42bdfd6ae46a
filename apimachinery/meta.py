"""Object metadata helpers on plain Kubernetes-JSON dicts (k8s.io/apimachinery/pkg/api/meta, metav1).

Objects travel through this kit as the dicts their JSON decodes to (`apiVersion`, `kind`,
`metadata`, `spec`, `status`), not as classes. These helpers read the common metadata
fields without each caller re-spelling `obj.get("metadata", {}).get(...)`, copy objects
safely before a cache hands them out, and answer the ownership questions controllers ask
(client-go's `MetaNamespaceKeyFunc`, `metav1.GetControllerOf`, `metav1.IsControlledBy`).

Accessors never raise on a missing or malformed `metadata`: they return the zero value,
as Go's getters on an empty ObjectMeta do. Mappings and lists they return are the object's
own (not copies); use `deep_copy` before changing an object you do not own.

    >>> pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0", "namespace": "prod"}}
    >>> object_key(pod), name(pod), labels(pod)
    ('prod/web-0', 'web-0', {})
    >>> split_api_version("apps/v1"), split_api_version("v1")
    (('apps', 'v1'), ('', 'v1'))
"""

import copy
from collections.abc import Mapping
from typing import Any, NamedTuple

Object = Mapping[str, Any]
"""A Kubernetes object as decoded JSON."""


def _meta(obj: Object) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    if type(meta) is dict:  # the common case, without the ABC check (a hot path of informers)
        return meta
    return meta if isinstance(meta, Mapping) else {}


def _str(obj: Object, key: str) -> str:
    value = _meta(obj).get(key)
    return value if type(value) is str or isinstance(value, str) else ""


def _str_map(obj: Object, key: str) -> Mapping[str, str]:
    value = _meta(obj).get(key)
    return value if isinstance(value, Mapping) else {}


def name(obj: Object) -> str:
    """metadata.name, or "" when unset."""
    return _str(obj, "name")


def generate_name(obj: Object) -> str:
    """metadata.generateName, or ""."""
    return _str(obj, "generateName")


def namespace(obj: Object) -> str:
    """metadata.namespace, or "" (cluster-scoped objects have none)."""
    return _str(obj, "namespace")


def uid(obj: Object) -> str:
    """metadata.uid, or ""."""
    return _str(obj, "uid")


def resource_version(obj: Object) -> str:
    """metadata.resourceVersion (the store revision as a string), or ""."""
    return _str(obj, "resourceVersion")


def creation_timestamp(obj: Object) -> str | None:
    """metadata.creationTimestamp (RFC 3339 string), or None."""
    value = _meta(obj).get("creationTimestamp")
    return value if isinstance(value, str) else None


def deletion_timestamp(obj: Object) -> str | None:
    """metadata.deletionTimestamp, or None when the object is not being deleted."""
    value = _meta(obj).get("deletionTimestamp")
    return value if isinstance(value, str) else None


def generation(obj: Object) -> int:
    """metadata.generation, or 0."""
    value = _meta(obj).get("generation")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def labels(obj: Object) -> Mapping[str, str]:
    """metadata.labels (the object's own mapping), or an empty mapping."""
    return _str_map(obj, "labels")


def annotations(obj: Object) -> Mapping[str, str]:
    """metadata.annotations (the object's own mapping), or an empty mapping."""
    return _str_map(obj, "annotations")


def finalizers(obj: Object) -> list[str]:
    """metadata.finalizers, or []."""
    value = _meta(obj).get("finalizers")
    return [f for f in value if isinstance(f, str)] if isinstance(value, list) else []


def owner_references(obj: Object) -> list[Mapping[str, Any]]:
    """metadata.ownerReferences as dicts, or []."""
    value = _meta(obj).get("ownerReferences")
    return [r for r in value if isinstance(r, Mapping)] if isinstance(value, list) else []


def is_being_deleted(obj: Object) -> bool:
    """True once metadata.deletionTimestamp is set (the object waits on its finalizers)."""
    return deletion_timestamp(obj) is not None


_ATOMS = (str, int, float, bool, type(None))


def deep_copy(value: Any) -> Any:
    """A copy of a JSON-shaped value that shares no mutable state with the original.

    Dicts and lists are rebuilt; str/int/float/bool/None are immutable and shared. Anything
    else (a tuple, a datetime a caller slipped in) falls back to `copy.deepcopy`. About 3x
    faster than `copy.deepcopy` on objects decoded from JSON (see tests/apimachinery/test_meta.py).
    """
    cls = type(value)
    if cls is dict:
        return {k: v if type(v) in _ATOMS else deep_copy(v) for k, v in value.items()}
    if cls is list:
        return [v if type(v) in _ATOMS else deep_copy(v) for v in value]
    if cls in _ATOMS:
        return value
    return copy.deepcopy(value)


def split_api_version(api_version: str) -> tuple[str, str]:
    """`apps/v1` -> ("apps", "v1"); `v1` -> ("", "v1") (the core group has no name).

    As schema.ParseGroupVersion: "" gives ("", ""); more than one "/" raises ValueError.
    """
    if not api_version:
        return "", ""
    if "/" not in api_version:
        return "", api_version
    group, _, version = api_version.partition("/")
    if "/" in version:
        raise ValueError(f"unexpected GroupVersion string: {api_version}")
    return group, version


def join_api_version(group: str, version: str) -> str:
    """The inverse of `split_api_version`: ("", "v1") -> "v1"."""
    return f"{group}/{version}" if group else version


def object_key(obj: Object) -> str:
    """`namespace/name`, or `name` for cluster-scoped objects (client-go MetaNamespaceKeyFunc)."""
    ns, n = namespace(obj), name(obj)
    return f"{ns}/{n}" if ns else n


def split_object_key(key: str) -> tuple[str, str]:
    """`ns/name` -> ("ns", "name"); `name` -> ("", "name") (cache.SplitMetaNamespaceKey)."""
    parts = key.split("/")
    if len(parts) == 1:
        return "", parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    raise ValueError(f"unexpected key format: {key!r}")


class OwnerReference(NamedTuple):
    """metav1.OwnerReference: who owns an object, and whether that owner is its controller."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool = False
    block_owner_deletion: bool = False

    @classmethod
    def from_dict(cls, ref: Mapping[str, Any]) -> "OwnerReference":
        return cls(
            api_version=str(ref.get("apiVersion", "")),
            kind=str(ref.get("kind", "")),
            name=str(ref.get("name", "")),
            uid=str(ref.get("uid", "")),
            controller=ref.get("controller") is True,
            block_owner_deletion=ref.get("blockOwnerDeletion") is True,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name, "uid": self.uid}
        if self.controller:
            out["controller"] = True
        if self.block_owner_deletion:
            out["blockOwnerDeletion"] = True
        return out


class ObjectReference(NamedTuple):
    """The identity of one object (a subset of core/v1 ObjectReference)."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str = ""
    resource_version: str = ""


def object_reference(obj: Object) -> ObjectReference:
    """The ObjectReference naming `obj` (ref.GetReference, without a REST mapper)."""
    return ObjectReference(
        api_version=str(obj.get("apiVersion", "")),
        kind=str(obj.get("kind", "")),
        namespace=namespace(obj),
        name=name(obj),
        uid=uid(obj),
        resource_version=resource_version(obj),
    )


def controller_ref(obj: Object) -> OwnerReference | None:
    """The first ownerReference with `controller: true`, or None (metav1.GetControllerOf)."""
    for ref in owner_references(obj):
        if ref.get("controller") is True:
            return OwnerReference.from_dict(ref)
    return None


def is_controlled_by(obj: Object, owner: Object) -> bool:
    """True when `obj`'s controller reference points at `owner`'s uid (metav1.IsControlledBy)."""
    ref = controller_ref(obj)
    return ref is not None and ref.uid == uid(owner)


def new_controller_ref(owner: Object) -> OwnerReference:
    """The reference a controller puts on what it creates (metav1.NewControllerRef)."""
    return OwnerReference(
        api_version=str(owner.get("apiVersion", "")),
        kind=str(owner.get("kind", "")),
        name=name(owner),
        uid=uid(owner),
        controller=True,
        block_owner_deletion=True,
    )


__all__ = [
    "ObjectReference",
    "OwnerReference",
    "annotations",
    "controller_ref",
    "creation_timestamp",
    "deep_copy",
    "deletion_timestamp",
    "finalizers",
    "generate_name",
    "generation",
    "is_being_deleted",
    "is_controlled_by",
    "join_api_version",
    "labels",
    "name",
    "namespace",
    "new_controller_ref",
    "object_key",
    "object_reference",
    "owner_references",
    "resource_version",
    "split_api_version",
    "split_object_key",
    "uid",
]
