"""Generic validation: name formats (pkg/util/validation) and ObjectMeta (objectmeta.go)."""

import pytest

from apimachinery import validation as v
from apimachinery.errors import CauseType

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
    "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name' or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name' or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue' or 'my_value' or '12345', regex used for "
    "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName' or 'my.name' or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("example.com", []),
        ("a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 61, []),  # 253: at the limit
        ("a" * 254, ["must be no more than 253 characters"]),  # the pattern itself has no per-label limit
        ("a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 62, ["must be no more than 253 characters"]),
        ("Example.com", [SUBDOMAIN_MSG]),
        ("-web", [SUBDOMAIN_MSG]),
        ("web.", [SUBDOMAIN_MSG]),
        ("", [SUBDOMAIN_MSG]),
        ("web\n", [SUBDOMAIN_MSG]),  # the whole string must match, not a line of it
    ],
)
def test_is_dns1123_subdomain(value, expected):
    """IsDNS1123Subdomain: <= 253, lowercase RFC 1123, kube's exact messages."""
    assert v.is_dns1123_subdomain(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a" * 63, []),
        ("a" * 64, ["must be no more than 63 characters"]),
        ("A" * 64, ["must be no more than 63 characters", LABEL_MSG]),
        ("123-abc", []),
        ("web.prod", ["must not contain dots"]),
        ("Web", [LABEL_MSG]),
        ("-web", [LABEL_MSG]),
        ("web-", [LABEL_MSG]),
    ],
)
def test_is_dns1123_label(value, expected):
    """IsDNS1123Label: <= 63; a valid subdomain that is not a label is told `must not contain dots`."""
    assert v.is_dns1123_label(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("my-svc", []), ("1svc", [DNS1035_MSG]), ("b" * 63, []), ("b" * 64, ["must be no more than 63 characters"])],
)
def test_is_dns1035_label(value, expected):
    """IsDNS1035Label (Service names): must start with a letter."""
    assert v.is_dns1035_label(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("app", []),
        ("app.kubernetes.io/name", []),
        ("MyName", []),
        ("n" * 63, []),
        ("n" * 64, ["name part must be no more than 63 characters"]),
        ("/name", ["prefix part must be non-empty"]),
        ("example.com/", ["name part must be non-empty", NAME_PART_MSG]),
        ("Example.com/name", ["prefix part " + SUBDOMAIN_MSG]),
        ("-app", [NAME_PART_MSG]),
        ("a/b/c", [v.is_qualified_name("a/b/c")[0]]),
    ],
)
def test_is_qualified_name(value, expected):
    """IsQualifiedName: label and annotation keys, prefix and name parts reported separately."""
    assert v.is_qualified_name(value) == expected


def test_is_qualified_name_with_two_slashes_words_the_whole_format():
    """IsQualifiedName with more than one `/` explains the whole format in one message."""
    [msg] = v.is_qualified_name("a/b/c")
    assert msg.startswith("a qualified name must consist of alphanumeric characters")
    assert msg.endswith("with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        ("v1.2_beta-3", []),
        ("x" * 63, []),
        ("x" * 64, ["must be no more than 63 characters"]),
        ("has space", [LABEL_VALUE_MSG]),
        ("a/b", [LABEL_VALUE_MSG]),
        ("-lead", [LABEL_VALUE_MSG]),
        ("ünïcode", [LABEL_VALUE_MSG]),
    ],
)
def test_is_valid_label_value(value, expected):
    """IsValidLabelValue: empty, or <= 63 of [-A-Za-z0-9_.] starting and ending alphanumeric."""
    assert v.is_valid_label_value(value) == expected


@pytest.mark.parametrize(
    ("value", "n_errors"),
    [("key.name", 0), ("KEY_NAME", 0), ("..", 1), ("..x", 1), ("a/b", 1), ("k" * 254, 1)],
)
def test_is_config_map_key(value, n_errors):
    """IsConfigMapKey: [-._a-zA-Z0-9]+, <= 253, and no `.`/`..` path tricks."""
    assert len(v.is_config_map_key(value)) == n_errors


def test_generate_name_may_end_with_a_dash():
    """NameIsDNSSubdomain with prefix=true masks a trailing dash (generateName: `web-`)."""
    assert v.name_is_dns_subdomain("web-", True) == []
    assert v.name_is_dns_subdomain("web-", False) == [SUBDOMAIN_MSG]


def _fields(errs):
    return [(e.type, e.field) for e in errs]


def _meta(**extra):
    return {"name": "web", "namespace": "prod", **extra}


@pytest.mark.parametrize(
    ("meta", "namespaced", "expected"),
    [
        (_meta(), True, []),
        ({"name": "web"}, True, [(CauseType.REQUIRED, "metadata.namespace")]),
        (_meta(), False, [(CauseType.FORBIDDEN, "metadata.namespace")]),
        ({"name": "web", "namespace": "Prod"}, True, [(CauseType.INVALID, "metadata.namespace")]),
        ({"namespace": "prod"}, True, [(CauseType.REQUIRED, "metadata.name")]),
        ({"generateName": "web-", "namespace": "prod"}, True, [(CauseType.REQUIRED, "metadata.name")]),
        ({"name": "Web", "namespace": "prod"}, True, [(CauseType.INVALID, "metadata.name")]),
        (_meta(generation=-1), True, [(CauseType.INVALID, "metadata.generation")]),
        (_meta(labels={"app": "bad value"}), True, [(CauseType.INVALID, "metadata.labels")]),
        (_meta(labels={"-bad": "ok"}), True, [(CauseType.INVALID, "metadata.labels")]),
        (_meta(annotations={"Example.COM/Note": "any value at all"}), True, []),  # keys checked lowercased
        (_meta(finalizers=["a/b/c"]), True, [(CauseType.INVALID, "metadata.finalizers")]),
        (_meta(finalizers=["x.io/f", "x.io/f"]), True, [(CauseType.DUPLICATE, "metadata.finalizers[1]")]),
        (_meta(finalizers=["orphan", "foregroundDeletion"]), True, [(CauseType.INVALID, "metadata.finalizers")]),
    ],
)
def test_validate_object_meta(meta, namespaced, expected):
    """ValidateObjectMeta: name, namespace by scope, generation, labels, annotations, finalizers."""
    assert _fields(v.validate_object_meta(meta, namespaced=namespaced, name_rule=v.name_is_dns_subdomain)) == expected


def test_cluster_scoped_with_namespace_is_forbidden():
    """Cluster-scoped kinds: `metadata.namespace: Forbidden: not allowed on this type`."""
    [err] = v.validate_object_meta(_meta(), namespaced=False, name_rule=v.name_is_dns_subdomain)
    assert str(err) == "metadata.namespace: Forbidden: not allowed on this type"


def test_name_required_message():
    """An object without name or generateName: `metadata.name: Required value: name or generateName is required`."""
    [err] = v.validate_object_meta({"namespace": "a"}, namespaced=True, name_rule=v.name_is_dns_subdomain)
    assert str(err) == "metadata.name: Required value: name or generateName is required"


@pytest.mark.parametrize(("extra", "too_long"), [(0, False), (1, True)])
def test_annotations_total_size_limit(extra, too_long):
    """TotalAnnotationSizeLimitB: keys plus values may total 262144 bytes, not one more."""
    key = "big"
    value = "x" * (v.TOTAL_ANNOTATION_SIZE_LIMIT_B - len(key) + extra)
    errs = v.validate_annotations({key: value}, "metadata.annotations")
    if too_long:
        [err] = errs
        assert err.type is CauseType.TOO_LONG
        assert str(err) == "metadata.annotations: Too long: must have at most 262144 bytes"
    else:
        assert errs == []


def test_annotation_size_counts_keys_across_many_entries():
    """The limit is on the sum over all annotations, keys included."""
    many = {f"k{i}": "v" * 1000 for i in range(300)}  # ~301 KB in total, each entry small
    assert [e.type for e in v.validate_annotations(many, "a")] == [CauseType.TOO_LONG]


def test_owner_references_rules():
    """ValidateOwnerReferences: required parts, no Event owners, at most one controller."""
    refs = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "a", "uid": "1", "controller": True},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "b", "uid": "2", "controller": True},
        {"apiVersion": "", "kind": "", "name": "", "uid": ""},
        {"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "3"},
    ]
    errs = v.validate_owner_references(refs, "metadata.ownerReferences")
    assert [e.field for e in errs] == [
        "metadata.ownerReferences",
        "metadata.ownerReferences.apiVersion",
        "metadata.ownerReferences.kind",
        "metadata.ownerReferences.name",
        "metadata.ownerReferences.uid",
        "metadata.ownerReferences",
    ]
    assert errs[0].detail == (
        'Only one reference can have Controller set to true. Found "true" in references for '
        "ReplicaSet/a and ReplicaSet/b"
    )
    assert errs[-1].detail == "/v1, Kind=Event is disallowed from being an owner"


def test_validate_object_meta_returns_every_error():
    """Validation reports all problems at once, not the first."""
    meta = {"name": "Bad_Name", "labels": {"app": "bad value"}, "finalizers": ["x/y/z"], "generation": -2}
    errs = v.validate_object_meta(meta, namespaced=True, name_rule=v.name_is_dns_subdomain)
    assert [e.field for e in errs] == [
        "metadata.name",
        "metadata.namespace",
        "metadata.generation",
        "metadata.labels",
        "metadata.finalizers",
    ]


OLD = {
    "name": "web",
    "namespace": "prod",
    "uid": "u1",
    "resourceVersion": "5",
    "creationTimestamp": "2024-01-01T00:00:00Z",
    "generation": 2,
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "web2"}, "metadata.name"),
        ({"namespace": "dev"}, "metadata.namespace"),
        ({"uid": "u2"}, "metadata.uid"),
        ({"creationTimestamp": "2025-01-01T00:00:00Z"}, "metadata.creationTimestamp"),
        ({"deletionTimestamp": "2025-01-01T00:00:00Z"}, "metadata.deletionTimestamp"),
    ],
)
def test_identity_fields_are_immutable(change, field):
    """ValidateObjectMetaUpdate: name, namespace, uid and timestamps are immutable (`field is immutable`)."""
    [err] = v.validate_object_meta_update({**OLD, **change}, OLD)
    assert err.field == field
    assert err.detail == "field is immutable"


def test_update_needs_resource_version_and_keeps_generation():
    """Updates carry a resourceVersion; generation never goes down."""
    new = {**OLD, "resourceVersion": "", "generation": 1}
    assert [str(e) for e in v.validate_object_meta_update(new, OLD)] == [
        'metadata.resourceVersion: Invalid value: "": must be specified for an update',
        "metadata.generation: Invalid value: 1: must not be decremented",
    ]
    assert v.validate_object_meta_update(new | {"generation": 2}, OLD, require_resource_version=False) == []


def test_no_new_finalizers_while_deleting():
    """ValidateNoNewFinalizers: an object being deleted may lose finalizers but not gain them."""
    old = {**OLD, "deletionTimestamp": "t", "finalizers": ["a.io/x"]}
    [err] = v.validate_object_meta_update({**old, "finalizers": ["a.io/x", "b.io/y"]}, old)
    assert err.type is CauseType.FORBIDDEN
    assert err.detail.endswith('found new finalizers []string{"b.io/y"}')
    assert v.validate_object_meta_update({**old, "finalizers": []}, old) == []


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "api"}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}, {"tier": "b"}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"tier": "x"}, False),
    ],
)
def test_selector_matches(selector, labels, matches):
    """metav1.LabelSelectorAsSelector(...).Matches semantics for matchLabels and matchExpressions."""
    assert v.selector_matches(selector, labels) is matches


def test_label_selector_validation():
    """ValidateLabelSelectorRequirement: values required for In/NotIn, forbidden for Exists, known operators."""
    selector = {
        "matchExpressions": [
            {"key": "a", "operator": "In"},
            {"key": "b", "operator": "Exists", "values": ["x"]},
            {"key": "c", "operator": "Near"},
        ]
    }
    assert _fields(v.validate_label_selector(selector, "spec.selector")) == [
        (CauseType.REQUIRED, "spec.selector.matchExpressions[0].values"),
        (CauseType.FORBIDDEN, "spec.selector.matchExpressions[1].values"),
        (CauseType.INVALID, "spec.selector.matchExpressions[2].operator"),
    ]
