"""Strategic-merge metadata of the built-in kinds: which lists merge by key, and how.

kube-apiserver reads the `patchStrategy` / `patchMergeKey` struct tags of the Go types in
k8s.io/api (core/v1, apps/v1, batch/v1, meta/v1 ObjectMeta) to apply a strategic merge patch.
We have no Go types, so this module writes those tags down as a tree of `FieldMeta`: a schema
is a mapping from a JSON field name to its `FieldMeta`; a list's `fields` describe each element.
Fields not in a schema have no strategy: maps merge, lists are replaced whole.

    >>> pod = SCHEMAS[("", "Pod")]
    >>> containers = pod["spec"].fields["containers"]
    >>> containers.strategy, containers.merge_key
    ('merge', 'name')
    >>> containers.fields["volumeMounts"].merge_key
    'mountPath'
    >>> pod["metadata"].fields["finalizers"].strategy   # a primitive list merged as a set
    'merge'

The table is keyed by `(group, kind)`; a `GroupKind` NamedTuple compares equal to such a tuple.
Tags checked against k8s.io/api core/v1/types.go (NodeSpec, NodeStatus, NamespaceStatus,
ServiceAccount, Endpoints, PodSpec fields) and meta/v1 ObjectMeta; see the notes by each schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

MERGE = "merge"
REPLACE = "replace"


@dataclass(frozen=True, slots=True)
class FieldMeta:
    """The strategic-merge tags of one field (Go: `patchStrategy`, `patchMergeKey`)."""

    strategy: str = ""
    """`merge` (lists merge by key, or as a set for primitives), `replace`, or "" (no tag)."""
    merge_key: str = ""
    """For a merged list of objects: the field that identifies an element (`name`, `containerPort`)."""
    retain_keys: bool = False
    """The `retainKeys` strategy: the patch may carry `$retainKeys` to clear the fields it omits."""
    fields: Mapping[str, FieldMeta] = field(default_factory=lambda: MappingProxyType({}))
    """The schema of the nested object, or of each element for a list."""


Schema = Mapping[str, FieldMeta]
EMPTY: Schema = MappingProxyType({})


def _schema(**fields: FieldMeta) -> Schema:
    return MappingProxyType(fields)


def nested(**fields: FieldMeta) -> FieldMeta:
    """A plain object field (no strategy of its own) whose children carry tags."""
    return FieldMeta(fields=_schema(**fields))


def merge_list(key: str, item: Schema = EMPTY, *, retain_keys: bool = False) -> FieldMeta:
    """A list of objects merged element by element on `key`."""
    return FieldMeta(MERGE, key, retain_keys, item)


MERGE_SET = FieldMeta(MERGE)
"""A list of primitives merged as a set (union, order kept)."""

# meta/v1 ObjectMeta: ownerReferences `merge`/`uid`, finalizers `merge` (a set of strings).
# managedFields has no tag (replaced whole).
OBJECT_META = nested(ownerReferences=merge_list("uid"), finalizers=MERGE_SET)

# core/v1 Container (and EphemeralContainerCommon, which carries the same tags).
# resizePolicy is `+listType=atomic` with no patch tags, so it is replaced whole; so is envFrom.
CONTAINER: Schema = _schema(
    ports=merge_list("containerPort"),
    env=merge_list("name"),
    volumeMounts=merge_list("mountPath"),
    volumeDevices=merge_list("devicePath"),
)

# core/v1 PodSpec. tolerations, readinessGates have no patch tags (replaced whole).
POD_SPEC: Schema = _schema(
    volumes=merge_list("name", retain_keys=True),
    initContainers=merge_list("name", CONTAINER),
    containers=merge_list("name", CONTAINER),
    ephemeralContainers=merge_list("name", CONTAINER),
    imagePullSecrets=merge_list("name"),
    hostAliases=merge_list("ip"),
    topologySpreadConstraints=merge_list("topologyKey"),
    schedulingGates=merge_list("name"),
    resourceClaims=merge_list("name", retain_keys=True),
)

# core/v1 PodStatus. containerStatuses, initContainerStatuses are atomic (replaced whole).
POD_STATUS: Schema = _schema(
    conditions=merge_list("type"),
    podIPs=merge_list("ip"),
    hostIPs=merge_list("ip"),
    resourceClaimStatuses=merge_list("name", retain_keys=True),
)

POD_TEMPLATE_SPEC = nested(metadata=OBJECT_META, spec=FieldMeta(fields=POD_SPEC))
CONDITIONS_BY_TYPE = nested(conditions=merge_list("type"))


def kind_schema(**top: FieldMeta) -> Schema:
    """The schema of a whole object: `metadata` (ObjectMeta) plus the kind's own fields."""
    return _schema(metadata=OBJECT_META, **top)


def _workload(**spec: FieldMeta) -> Schema:
    """apps/v1 and core/v1 controllers: a pod template under spec, conditions by type in status."""
    return kind_schema(spec=nested(template=POD_TEMPLATE_SPEC, **spec), status=CONDITIONS_BY_TYPE)


SCHEMAS: Mapping[tuple[str, str], Schema] = MappingProxyType(
    {
        # core/v1
        ("", "Pod"): kind_schema(spec=FieldMeta(fields=POD_SPEC), status=FieldMeta(fields=POD_STATUS)),
        ("", "PodTemplate"): kind_schema(template=POD_TEMPLATE_SPEC),
        ("", "ReplicationController"): _workload(),
        # NodeSpec.podCIDRs is `patchStrategy:"merge"` (+listType=set); taints are atomic.
        # NodeStatus.addresses merge by `type` (Kubernetes warns the key is not unique enough).
        ("", "Node"): kind_schema(
            spec=nested(podCIDRs=MERGE_SET),
            status=nested(conditions=merge_list("type"), addresses=merge_list("type")),
        ),
        ("", "Service"): kind_schema(spec=nested(ports=merge_list("port")), status=CONDITIONS_BY_TYPE),
        ("", "Endpoints"): kind_schema(),  # subsets and their lists are all atomic
        ("", "ConfigMap"): kind_schema(),
        ("", "Secret"): kind_schema(),
        # NamespaceSpec.finalizers is atomic (unlike metadata.finalizers); status.conditions by type.
        ("", "Namespace"): kind_schema(status=CONDITIONS_BY_TYPE),
        # ServiceAccount.secrets merge by name; imagePullSecrets is atomic here (unlike PodSpec's).
        ("", "ServiceAccount"): kind_schema(secrets=merge_list("name")),
        ("", "Event"): kind_schema(),
        # apps/v1
        ("apps", "Deployment"): _workload(),
        ("apps", "ReplicaSet"): _workload(),
        ("apps", "StatefulSet"): _workload(),  # volumeClaimTemplates carry no patch tags
        ("apps", "DaemonSet"): _workload(),
        # batch/v1
        ("batch", "Job"): _workload(),
        ("batch", "CronJob"): kind_schema(
            spec=nested(jobTemplate=nested(metadata=OBJECT_META, spec=nested(template=POD_TEMPLATE_SPEC))),
        ),
        # coordination.k8s.io/v1: LeaseSpec has no lists.
        ("coordination.k8s.io", "Lease"): kind_schema(),
        # apiextensions.k8s.io/v1: the CRD types carry listType markers but no patch tags.
        ("apiextensions.k8s.io", "CustomResourceDefinition"): kind_schema(),
    }
)


def schema_for(group: str, kind: str) -> Schema | None:
    """The strategic-merge schema of a built-in kind, or None for a kind we do not know (a CR)."""
    return SCHEMAS.get((group, kind))


__all__ = [
    "CONTAINER",
    "EMPTY",
    "MERGE",
    "MERGE_SET",
    "OBJECT_META",
    "POD_SPEC",
    "POD_STATUS",
    "POD_TEMPLATE_SPEC",
    "REPLACE",
    "SCHEMAS",
    "FieldMeta",
    "Schema",
    "kind_schema",
    "merge_list",
    "nested",
    "schema_for",
]
