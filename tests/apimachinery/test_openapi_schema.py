"""Custom resources against a CRD's openAPIV3Schema: validation, pruning, structural checks (apiextensions)."""

import copy
from typing import Any

import pytest

from apimachinery.errors import CauseType
from apimachinery.kinds.validation import validate as validate_kind
from apimachinery.openapi_schema import prune, validate
from apimachinery.openapi_structural import validate_structural, validate_version

INVALID, TYPE, REQUIRED = CauseType.INVALID, CauseType.TYPE_INVALID, CauseType.REQUIRED
UNSUPPORTED, TOO_LONG, TOO_MANY = CauseType.NOT_SUPPORTED, CauseType.TOO_LONG, CauseType.TOO_MANY
DUPLICATE, FORBIDDEN = CauseType.DUPLICATE, CauseType.FORBIDDEN


def under_spec(field: dict[str, Any]) -> dict[str, Any]:
    """A root schema whose `spec.x` is `field`."""
    return {"type": "object", "properties": {"spec": {"type": "object", "properties": {"x": field}}}}


def found(errs: list[Any]) -> list[tuple[str, CauseType]]:
    return [(e.field, e.type) for e in errs]


X = "spec.x"

# (name, schema of spec.x, value of spec.x, expected [(field, type)])
KEYWORD_CASES: list[tuple[str, dict[str, Any], Any, list[tuple[str, CauseType]]]] = [
    ("string ok", {"type": "string"}, "a", []),
    ("string wrong", {"type": "string"}, 1, [(X, TYPE)]),
    ("integer ok", {"type": "integer"}, 3, []),
    ("integral float is an integer", {"type": "integer"}, 3.0, []),
    ("fraction is not an integer", {"type": "integer"}, 3.5, [(X, TYPE)]),
    ("bool is not an integer", {"type": "integer"}, True, [(X, TYPE)]),
    ("integer is a number", {"type": "number"}, 3, []),
    ("float is a number", {"type": "number"}, 3.5, []),
    ("bool is not a number", {"type": "number"}, False, [(X, TYPE)]),
    ("boolean ok", {"type": "boolean"}, False, []),
    ("boolean wrong", {"type": "boolean"}, "true", [(X, TYPE)]),
    ("array ok", {"type": "array", "items": {"type": "string"}}, ["a"], []),
    ("array wrong", {"type": "array", "items": {"type": "string"}}, {"a": 1}, [(X, TYPE)]),
    ("object ok", {"type": "object"}, {}, []),
    ("object wrong", {"type": "object"}, [], [(X, TYPE)]),
    ("null not nullable", {"type": "string"}, None, [(X, TYPE)]),
    ("null nullable", {"type": "string", "nullable": True}, None, []),
    ("null untyped", {"x-kubernetes-preserve-unknown-fields": True}, None, []),
    ("enum ok", {"type": "string", "enum": ["a", "b"]}, "b", []),
    ("enum miss", {"type": "string", "enum": ["a", "b"]}, "c", [(X, UNSUPPORTED)]),
    ("enum true is not 1", {"enum": [1, 2]}, True, [(X, UNSUPPORTED)]),
    ("enum 1.0 is 1", {"type": "number", "enum": [1, 2]}, 1.0, []),
    ("enum object", {"type": "object", "enum": [{"a": 1}]}, {"a": 1}, []),
    ("int-or-string int", {"x-kubernetes-int-or-string": True}, 80, []),
    ("int-or-string string", {"x-kubernetes-int-or-string": True}, "80%", []),
    ("int-or-string float", {"x-kubernetes-int-or-string": True}, 1.5, [(X, TYPE)]),
    ("int-or-string bool", {"x-kubernetes-int-or-string": True}, True, [(X, TYPE)]),
    ("int-or-string null", {"x-kubernetes-int-or-string": True}, None, [(X, TYPE)]),
    ("preserve unknown anything", {"type": "object", "x-kubernetes-preserve-unknown-fields": True}, {"a": [1]}, []),
    ("minimum ok at bound", {"type": "integer", "minimum": 1}, 1, []),
    ("minimum below", {"type": "integer", "minimum": 1}, 0, [(X, INVALID)]),
    ("exclusiveMinimum at bound", {"type": "integer", "minimum": 1, "exclusiveMinimum": True}, 1, [(X, INVALID)]),
    ("maximum ok at bound", {"type": "number", "maximum": 2.5}, 2.5, []),
    ("maximum above", {"type": "number", "maximum": 2.5}, 2.6, [(X, INVALID)]),
    ("exclusiveMaximum at bound", {"type": "number", "maximum": 2.5, "exclusiveMaximum": True}, 2.5, [(X, INVALID)]),
    ("multipleOf ok", {"type": "integer", "multipleOf": 5}, 15, []),
    ("multipleOf miss", {"type": "integer", "multipleOf": 5}, 12, [(X, INVALID)]),
    ("multipleOf decimal", {"type": "number", "multipleOf": 0.1}, 0.3, []),
    ("multipleOf decimal miss", {"type": "number", "multipleOf": 0.1}, 0.35, [(X, INVALID)]),
    ("minLength short", {"type": "string", "minLength": 2}, "a", [(X, INVALID)]),
    ("maxLength counts characters", {"type": "string", "maxLength": 5}, "héllo", []),
    ("maxLength long", {"type": "string", "maxLength": 5}, "héllo!", [(X, TOO_LONG)]),
    ("pattern searches", {"type": "string", "pattern": "b+"}, "abbc", []),
    ("pattern anchored miss", {"type": "string", "pattern": "^b"}, "ab", [(X, INVALID)]),
    ("pattern digits are ASCII", {"type": "string", "pattern": r"^\d+$"}, "١٢", [(X, INVALID)]),
    ("minItems", {"type": "array", "items": {"type": "integer"}, "minItems": 2}, [1], [(X, INVALID)]),
    ("maxItems", {"type": "array", "items": {"type": "integer"}, "maxItems": 1}, [1, 2], [(X, TOO_MANY)]),
    ("uniqueItems ok", {"type": "array", "items": {}, "uniqueItems": True}, [1, True, "1"], []),
    ("uniqueItems dup", {"type": "array", "items": {}, "uniqueItems": True}, [{"a": 1}, {"a": 1.0}], [(X, INVALID)]),
    ("minProperties", {"type": "object", "minProperties": 1}, {}, [(X, INVALID)]),
    ("maxProperties", {"type": "object", "maxProperties": 1}, {"a": 1, "b": 2}, [(X, TOO_MANY)]),
    ("int32 in range", {"type": "integer", "format": "int32"}, 2**31 - 1, []),
    ("int32 overflow", {"type": "integer", "format": "int32"}, 2**31, [(X, TYPE)]),
    ("int64 overflow", {"type": "integer", "format": "int64"}, 2**63, [(X, TYPE)]),
    ("date-time ok", {"type": "string", "format": "date-time"}, "2024-02-29T23:59:59.5+01:00", []),
    ("date-time zulu", {"type": "string", "format": "date-time"}, "2024-01-31T12:00:00Z", []),
    ("date-time no zone", {"type": "string", "format": "date-time"}, "2024-01-31T12:00:00", [(X, TYPE)]),
    ("date-time bad hour", {"type": "string", "format": "date-time"}, "2024-01-31T24:00:00Z", [(X, TYPE)]),
    ("date ok", {"type": "string", "format": "date"}, "2024-02-29", []),
    ("date not a day", {"type": "string", "format": "date"}, "2023-02-29", [(X, TYPE)]),
    ("other formats accepted", {"type": "string", "format": "email"}, "not an email", []),
    (
        "items by index",
        {"type": "array", "items": {"type": "string"}},
        ["a", 1, "b", 2],
        [(X + "[1]", TYPE), (X + "[3]", TYPE)],
    ),
    (
        "list-type set duplicate",
        {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
        ["a", "b", "a"],
        [(X + "[2]", DUPLICATE)],
    ),
    (
        "list-type map duplicate key",
        {
            "type": "array",
            "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}},
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
        [{"name": "a", "port": 1}, {"name": "b", "port": 1}, {"name": "a", "port": 2}],
        [(X + "[2]", DUPLICATE)],
    ),
    ("list-type atomic allows repeats", {"type": "array", "items": {}, "x-kubernetes-list-type": "atomic"}, [1, 1], []),
    (
        "additionalProperties schema",
        {"type": "object", "additionalProperties": {"type": "integer"}},
        {"a": 1, "b": "2"},
        [(X + "[b]", TYPE)],
    ),
    (
        "additionalProperties false",
        {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False},
        {"a": 1, "b": 2},
        [(X + ".b", FORBIDDEN)],
    ),
    ("allOf every branch", {"allOf": [{"minimum": 5}, {"multipleOf": 2}]}, 3, [(X, INVALID), (X, INVALID)]),
    ("anyOf one passes", {"anyOf": [{"type": "integer"}, {"type": "string"}]}, "a", []),
    ("anyOf none passes", {"anyOf": [{"minimum": 5}, {"maximum": 1}]}, 3, [(X, INVALID), (X, INVALID)]),
    ("oneOf exactly one", {"oneOf": [{"minimum": 5}, {"maximum": 1}]}, 6, []),
    ("oneOf two pass", {"oneOf": [{"minimum": 1}, {"maximum": 9}]}, 5, [(X, INVALID)]),
    ("oneOf none pass", {"oneOf": [{"minimum": 5}, {"maximum": 1}]}, 3, [(X, INVALID), (X, INVALID)]),
    ("not passes", {"type": "string", "not": {"enum": ["forbidden"]}}, "ok", []),
    ("not fails", {"type": "string", "not": {"enum": ["forbidden"]}}, "forbidden", [(X, INVALID)]),
]


@pytest.mark.parametrize(
    ("schema", "value", "expected"), [c[1:] for c in KEYWORD_CASES], ids=[c[0] for c in KEYWORD_CASES]
)
def test_keywords(schema: dict[str, Any], value: Any, expected: list[tuple[str, CauseType]]) -> None:
    """apiextensions: each OpenAPI keyword is checked, reported at the field's path with kube's error type."""
    assert found(validate(under_spec(schema), {"spec": {"x": value}})) == expected


MESSAGE_CASES = [
    (
        "type",
        {"type": "integer"},
        "string",
        'spec.x: Invalid value: "string": spec.x in body must be of type integer: "string"',
    ),
    ("null", {"type": "string"}, None, 'spec.x: Invalid value: "null": spec.x in body must be of type string: "null"'),
    ("enum", {"enum": ["a", "b", 3]}, "c", 'spec.x: Unsupported value: "c": supported values: "a", "b", "3"'),
    ("minimum", {"minimum": 1.0}, 0, "spec.x: Invalid value: 0: spec.x in body should be greater than or equal to 1"),
    (
        "exclusive maximum",
        {"maximum": 9, "exclusiveMaximum": True},
        9,
        "spec.x: Invalid value: 9: spec.x in body should be less than 9",
    ),
    ("multipleOf", {"multipleOf": 4}, 6, "spec.x: Invalid value: 6: spec.x in body should be a multiple of 4"),
    (
        "minLength",
        {"minLength": 3},
        "ab",
        'spec.x: Invalid value: "ab": spec.x in body should be at least 3 chars long',
    ),
    ("maxLength", {"maxLength": 1}, "ab", 'spec.x: Too long: "ab": may not be longer than 1'),
    ("pattern", {"pattern": "^[a-z]+$"}, "A", "spec.x: Invalid value: \"A\": spec.x in body should match '^[a-z]+$'"),
    ("maxItems", {"maxItems": 1}, [1, 2, 3], "spec.x: Too many: 3: must have at most 1 items"),
    (
        "date-time",
        {"format": "date-time"},
        "soon",
        'spec.x: Invalid value: "soon": spec.x in body must be of type date-time: "soon"',
    ),
    ("set", {"x-kubernetes-list-type": "set"}, ["a", "a"], 'spec.x[1]: Duplicate value: "a"'),
    (
        "anyOf",
        {"anyOf": [{"type": "integer"}]},
        "a",
        'spec.x: Invalid value: "a": spec.x in body must validate at least one schema (anyOf)',
    ),
]


@pytest.mark.parametrize(
    ("schema", "value", "message"), [c[1:] for c in MESSAGE_CASES], ids=[c[0] for c in MESSAGE_CASES]
)
def test_messages(schema: dict[str, Any], value: Any, message: str) -> None:
    """apiextensions: errors read like kube-openapi's, converted to field errors (first error shown)."""
    assert str(validate(under_spec(schema), {"spec": {"x": value}})[0]) == message


DEPLOYMENT_LIKE = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["image"],
            "properties": {
                "image": {"type": "string"},
                "replicas": {"type": "integer", "minimum": 0},
                "ports": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "properties": {"name": {"type": "string", "maxLength": 15}, "port": {"type": "integer"}},
                    },
                },
            },
        },
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}


def test_every_error_is_reported() -> None:
    """apiextensions: validation reports every offending field, never stopping at the first."""
    obj = {
        "spec": {
            "replicas": -1,
            "ports": [{"name": "http", "port": 80}, {"name": "a-very-long-port-name", "port": "81"}, {}],
        },
        "status": {"ready": "yes"},
    }
    assert found(validate(DEPLOYMENT_LIKE, obj)) == [
        ("spec.image", REQUIRED),
        ("spec.replicas", INVALID),
        ("spec.ports[1].name", TOO_LONG),
        ("spec.ports[1].port", TYPE),
        ("spec.ports[2].port", REQUIRED),
        ("status.ready", TYPE),
    ]


def test_three_bad_fields_three_errors() -> None:
    """apiextensions: an object with three bad fields yields three errors, each by its path."""
    obj = {"spec": {"image": 1, "replicas": "2", "ports": "80"}}
    assert found(validate(DEPLOYMENT_LIKE, obj)) == [
        ("spec.image", TYPE),
        ("spec.replicas", TYPE),
        ("spec.ports", TYPE),
    ]


def test_valid_object_has_no_errors() -> None:
    """apiextensions: an object that follows the schema is accepted."""
    obj = {"apiVersion": "example.com/v1", "kind": "App", "spec": {"image": "nginx", "ports": [{"port": 80}]}}
    assert validate(DEPLOYMENT_LIKE, obj) == []


ROOT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}},
        "spec": {"type": "object"},
    },
}

ROOT_CASES = [
    ("apiVersion and kind always allowed", {"apiVersion": "example.com/v1", "kind": "W", "spec": {}}, []),
    ("metadata is not validated by the schema", {"metadata": {"name": "much-too-long"}, "spec": {}}, []),
    ("other root fields still checked", {"spec": {}, "extra": 1}, [("extra", FORBIDDEN)]),
]


@pytest.mark.parametrize(("obj", "expected"), [c[1:] for c in ROOT_CASES], ids=[c[0] for c in ROOT_CASES])
def test_root_fields(obj: dict[str, Any], expected: list[tuple[str, CauseType]]) -> None:
    """apiextensions: apiVersion, kind and metadata are allowed at the root; metadata is left to ObjectMeta rules."""
    assert found(validate(ROOT_SCHEMA, obj)) == expected


EMBEDDED = {"type": "object", "x-kubernetes-embedded-resource": True, "additionalProperties": False, "properties": {}}
EMBEDDED_CASES = [
    ("complete", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}, []),
    ("missing apiVersion and kind", {"metadata": {}}, [(X + ".apiVersion", REQUIRED), (X + ".kind", REQUIRED)]),
    ("empty kind", {"apiVersion": "v1", "kind": ""}, [(X + ".kind", INVALID)]),
    ("other fields forbidden", {"apiVersion": "v1", "kind": "Pod", "spec": {}}, [(X + ".spec", FORBIDDEN)]),
]


@pytest.mark.parametrize(("value", "expected"), [c[1:] for c in EMBEDDED_CASES], ids=[c[0] for c in EMBEDDED_CASES])
def test_embedded_resource(value: dict[str, Any], expected: list[tuple[str, CauseType]]) -> None:
    """apiextensions: an embedded resource allows apiVersion/kind/metadata and requires apiVersion and kind."""
    assert found(validate(under_spec(EMBEDDED), {"spec": {"x": value}})) == expected


# Pruning -----------------------------------------------------------------------------------

PRUNE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "image": {"type": "string"},
                "ports": {"type": "array", "items": {"type": "object", "properties": {"port": {"type": "integer"}}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "config": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "opaque": {"type": "object"},
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object", "properties": {"a": {"type": "integer"}}}},
                },
                "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "object"}}},
            },
        }
    },
}

PRUNE_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "root resource fields kept, unknown root field dropped",
        {"apiVersion": "example.com/v1", "kind": "W", "metadata": {"name": "w", "x": 1}, "junk": 1},
        {"apiVersion": "example.com/v1", "kind": "W", "metadata": {"name": "w", "x": 1}},
    ),
    ("unknown nested field dropped", {"spec": {"image": "i", "color": "red"}}, {"spec": {"image": "i"}}),
    (
        "array items pruned one by one",
        {"spec": {"ports": [{"port": 1, "junk": 2}, {"junk": 3}]}},
        {"spec": {"ports": [{"port": 1}, {}]}},
    ),
    (
        "additionalProperties schema keeps keys",
        {"spec": {"labels": {"a": "1", "b": "2"}}},
        {"spec": {"labels": {"a": "1", "b": "2"}}},
    ),
    (
        "preserve-unknown-fields keeps everything",
        {"spec": {"config": {"any": {"deep": [1, {"x": 2}]}}}},
        {"spec": {"config": {"any": {"deep": [1, {"x": 2}]}}}},
    ),
    ("object without properties keeps nothing", {"spec": {"opaque": {"a": 1}}}, {"spec": {"opaque": {}}}),
    (
        "embedded resource keeps apiVersion/kind/metadata",
        {
            "spec": {
                "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"n": 1}, "spec": {"a": 1, "b": 2}, "x": 1}
            }
        },
        {"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"n": 1}, "spec": {"a": 1}}}},
    ),
    (
        "nested arrays with an empty object items schema",
        {"spec": {"matrix": [[{"a": 1}], []]}},
        {"spec": {"matrix": [[{}], []]}},
    ),
    (
        "wrong types are left for validation",
        {"spec": {"image": {"a": 1}, "ports": "80"}},
        {"spec": {"image": {}, "ports": "80"}},
    ),
]


@pytest.mark.parametrize(("obj", "expected"), [c[1:] for c in PRUNE_CASES], ids=[c[0] for c in PRUNE_CASES])
def test_prune(obj: dict[str, Any], expected: dict[str, Any]) -> None:
    """apiextensions structural pruning: undeclared fields are dropped silently; declared, preserved ones stay."""
    assert prune(PRUNE_SCHEMA, obj) == expected


def test_prune_preserve_unknown_still_prunes_declared_fields() -> None:
    """apiextensions: under x-kubernetes-preserve-unknown-fields, declared properties are pruned by their schema."""
    schema = {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
        "properties": {"spec": {"type": "object", "properties": {"a": {"type": "integer"}}}},
    }
    obj = {"kind": "W", "spec": {"a": 1, "b": 2}, "extra": {"c": 3}}
    assert prune(schema, obj) == {"kind": "W", "spec": {"a": 1}, "extra": {"c": 3}}


def test_prune_never_mutates_and_shares_nothing() -> None:
    """apiextensions pruning works on a copy: the input is untouched and the result shares no containers."""
    obj = {
        "metadata": {"name": "w", "labels": {"a": "b"}},
        "spec": {"image": "i", "junk": 1, "config": {"k": [1]}, "ports": [{"port": 1, "x": 2}]},
    }
    before = copy.deepcopy(obj)
    out = prune(PRUNE_SCHEMA, obj)
    assert obj == before
    out["metadata"]["labels"]["a"] = "changed"
    out["spec"]["config"]["k"].append(2)
    out["spec"]["ports"][0]["port"] = 9
    assert obj == before


# Structural schema -------------------------------------------------------------------------

P = "spec.versions[0].schema.openAPIV3Schema"
STRUCTURAL_CASES: list[tuple[str, Any, list[tuple[str, CauseType]]]] = [
    ("minimal root", {"type": "object"}, []),
    ("root needs a type", {"properties": {}}, [(P + ".type", REQUIRED)]),
    ("root must be an object", {"type": "string"}, [(P + ".type", INVALID)]),
    ("root not a mapping", "object", [(P, TYPE)]),
    (
        "properties need a type",
        {"type": "object", "properties": {"spec": {"properties": {"a": {"type": "string"}}}}},
        [(P + ".properties[spec].type", REQUIRED)],
    ),
    (
        "items need a type",
        {"type": "object", "properties": {"l": {"items": {"type": "string"}}}},
        [(P + ".properties[l].type", REQUIRED)],
    ),
    (
        "int-or-string and preserve-unknown need no type",
        {
            "type": "object",
            "properties": {
                "port": {"x-kubernetes-int-or-string": True},
                "raw": {"x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {"type": "string"}}},
            },
        },
        [],
    ),
    (
        "unknown type",
        {"type": "object", "properties": {"a": {"type": "float"}}},
        [(P + ".properties[a].type", UNSUPPORTED)],
    ),
    (
        "array needs items",
        {"type": "object", "properties": {"a": {"type": "array"}}},
        [(P + ".properties[a].items", REQUIRED)],
    ),
    (
        "items as a list",
        {"type": "object", "properties": {"a": {"type": "array", "items": [{"type": "string"}]}}},
        [(P + ".properties[a].items", FORBIDDEN)],
    ),
    (
        "properties exclude additionalProperties",
        {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "string"}},
        [(P + ".additionalProperties", FORBIDDEN)],
    ),
    ("required entries are strings", {"type": "object", "required": ["a", 1]}, [(P + ".required[1]", INVALID)]),
    (
        "enum is a list",
        {"type": "object", "properties": {"a": {"type": "string", "enum": "a"}}},
        [(P + ".properties[a].enum", TYPE)],
    ),
    (
        "pattern compiles",
        {"type": "object", "properties": {"a": {"type": "string", "pattern": "(unclosed"}}},
        [(P + ".properties[a].pattern", INVALID)],
    ),
    (
        "nested paths",
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "ports": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "str"}}}}
                    },
                }
            },
        },
        [(P + ".properties[spec].properties[ports].items.properties[n].type", UNSUPPORTED)],
    ),
    (
        "additionalProperties schema is checked",
        {"type": "object", "additionalProperties": {"type": "array"}},
        [(P + ".additionalProperties.items", REQUIRED)],
    ),
    (
        "junctions checked for value keywords only",
        {"type": "object", "properties": {"a": {"type": "string", "anyOf": [{"pattern": "["}, {"maxLength": 3}]}}},
        [(P + ".properties[a].anyOf[0].pattern", INVALID)],
    ),
    (
        "list-type map needs keys",
        {
            "type": "object",
            "properties": {"l": {"type": "array", "items": {"type": "object"}, "x-kubernetes-list-type": "map"}},
        },
        [(P + ".properties[l].x-kubernetes-list-map-keys", REQUIRED)],
    ),
    (
        "every structural error reported",
        {"properties": {"a": {"type": "array"}, "b": {"type": "string", "pattern": "("}}},
        [(P + ".type", REQUIRED), (P + ".properties[a].items", REQUIRED), (P + ".properties[b].pattern", INVALID)],
    ),
]


@pytest.mark.parametrize(
    ("schema", "expected"), [c[1:] for c in STRUCTURAL_CASES], ids=[c[0] for c in STRUCTURAL_CASES]
)
def test_validate_structural(schema: Any, expected: list[tuple[str, CauseType]]) -> None:
    """apiextensions v1: a CRD version's schema must be structural, errors named by their schema path."""
    assert found(validate_structural(schema, P)) == expected


def test_structural_messages() -> None:
    """apiextensions: structural errors are worded as kube words them."""
    schema = {"type": "object", "properties": {"s": {"properties": {}}, "p": {"type": "string", "pattern": "["}}}
    msgs = [str(e) for e in validate_structural(schema, "s")]
    assert msgs[0] == "s.properties[s].type: Required value: must not be empty for specified object fields"
    assert msgs[1].startswith(
        's.properties[p].pattern: Invalid value: "[": must be a valid regular expression, but isn\'t: '
    )


# CRD versions ------------------------------------------------------------------------------

V = "spec.versions[0]"
SCHEMA = {"openAPIV3Schema": {"type": "object"}}
VERSION_CASES: list[tuple[str, dict[str, Any], list[tuple[str, CauseType]]]] = [
    ("schema present", {"name": "v1", "schema": SCHEMA}, []),
    ("schema required", {"name": "v1"}, [(V + ".schema.openAPIV3Schema", REQUIRED)]),
    (
        "schema must be structural",
        {"name": "v1", "schema": {"openAPIV3Schema": {}}},
        [(V + ".schema.openAPIV3Schema.type", REQUIRED)],
    ),
    ("status subresource", {"schema": SCHEMA, "subresources": {"status": {}}}, []),
    (
        "status must be empty",
        {"schema": SCHEMA, "subresources": {"status": {"x": 1}}},
        [(V + ".subresources.status", INVALID)],
    ),
    (
        "unknown subresource",
        {"schema": SCHEMA, "subresources": {"logs": {}}},
        [(V + ".subresources.logs", UNSUPPORTED)],
    ),
    (
        "scale paths",
        {
            "schema": SCHEMA,
            "subresources": {
                "scale": {
                    "specReplicasPath": ".spec.replicas",
                    "statusReplicasPath": ".status.replicas",
                    "labelSelectorPath": ".status.selector",
                }
            },
        },
        [],
    ),
    (
        "scale paths required",
        {"schema": SCHEMA, "subresources": {"scale": {}}},
        [
            (V + ".subresources.scale.specReplicasPath", REQUIRED),
            (V + ".subresources.scale.statusReplicasPath", REQUIRED),
        ],
    ),
    (
        "scale paths under spec and status",
        {
            "schema": SCHEMA,
            "subresources": {
                "scale": {
                    "specReplicasPath": ".status.replicas",
                    "statusReplicasPath": "status.replicas",
                    "labelSelectorPath": ".metadata.labels",
                }
            },
        },
        [
            (V + ".subresources.scale.specReplicasPath", INVALID),
            (V + ".subresources.scale.statusReplicasPath", INVALID),
            (V + ".subresources.scale.labelSelectorPath", INVALID),
        ],
    ),
]


@pytest.mark.parametrize(("version", "expected"), [c[1:] for c in VERSION_CASES], ids=[c[0] for c in VERSION_CASES])
def test_validate_version(version: dict[str, Any], expected: list[tuple[str, CauseType]]) -> None:
    """apiextensions v1: every version has a structural schema and only status/scale subresources."""
    assert found(validate_version(version, V)) == expected


def test_scale_path_messages() -> None:
    """apiextensions: scale replica paths must be JSON paths under .spec / .status."""
    version = {
        "schema": SCHEMA,
        "subresources": {"scale": {"specReplicasPath": ".status.r", "statusReplicasPath": "x"}},
    }
    assert [str(e) for e in validate_version(version, V)] == [
        f'{V}.subresources.scale.specReplicasPath: Invalid value: ".status.r": should be a json path under .spec',
        f'{V}.subresources.scale.statusReplicasPath: Invalid value: "x": must be a simple json path starting with .',
    ]


def crd(versions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": versions,
        },
    }


def test_crd_validation_checks_each_version_schema() -> None:
    """apiextensions: creating a v1 CRD without a version schema fails with `schemas are required`."""
    versions = [
        {"name": "v1", "served": True, "storage": True, "schema": SCHEMA, "subresources": {"status": {}}},
        {"name": "v2", "served": True, "storage": False},
        {"name": "v3", "served": True, "storage": False, "schema": SCHEMA, "subresources": {"exec": {}}},
    ]
    errs = validate_kind("apiextensions.k8s.io", "CustomResourceDefinition", crd(versions))
    assert [str(e) for e in errs] == [
        "spec.versions[1].schema.openAPIV3Schema: Required value: schemas are required",
        'spec.versions[2].subresources.exec: Unsupported value: "exec": supported values: "scale", "status"',
    ]
