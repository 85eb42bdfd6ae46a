"""Custom resources against a CRD version's `openAPIV3Schema`, as apiextensions-apiserver checks them.

Two jobs, both pure (no I/O, inputs never mutated):

* `validate(schema, obj)`: every field of a custom object that breaks the schema, each a
  `FieldError` whose path starts at the object's root. This is kube-openapi's validator as
  apiextensions-apiserver turns its results into field errors (Required, Unsupported value,
  Too long, Too many, Duplicate value, Invalid value), with kube-openapi's wording.
* `prune(schema, obj)`: a copy without the fields the schema does not declare (structural
  pruning), which kube-apiserver applies to a custom object before validating and storing it.
The CRD's own schema is checked in `openapi_structural.py`.

    >>> schema = {
    ...     "type": "object",
    ...     "properties": {
    ...         "spec": {
    ...             "type": "object",
    ...             "required": ["image"],
    ...             "properties": {"image": {"type": "string"}, "replicas": {"type": "integer"}},
    ...         }
    ...     },
    ... }
    >>> obj = {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"replicas": "3", "color": "red"}}
    >>> for err in validate(schema, obj):
    ...     print(err)
    spec.image: Required value
    spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"
    >>> prune(schema, obj)
    {'apiVersion': 'example.com/v1', 'kind': 'Widget', 'spec': {'replicas': '3'}}

Field paths: a property is `.name`, an array item `[i]`, a key matched by an
`additionalProperties` schema `[key]` (field.Path's Child, Index and Key). In a schema, a
property is `properties[name]`, as apiextensions names it.

At the root, and inside an `x-kubernetes-embedded-resource`, `apiVersion`, `kind` and
`metadata` are always allowed and kept; the root's `metadata` is not validated here (the
registry validates ObjectMeta itself), as kube-apiserver does.
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
import math
import re
from collections.abc import Callable, Hashable, Mapping
from fractions import Fraction
from typing import Any, TypeGuard

from apimachinery.errors import (
    CauseType,
    FieldError,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
    type_invalid,
)

Schema = Mapping[str, Any]
"""One node of an OpenAPI v3 schema, as decoded from JSON or YAML."""

Check = Callable[[Schema, Any, str], list[FieldError]]
"""A value check: (schema node, value of the matching JSON type, field path) -> errors."""

TYPES = ("array", "boolean", "integer", "number", "object", "string")
RESOURCE_FIELDS = ("apiVersion", "kind", "metadata")
LIST_TYPES = ("atomic", "map", "set")
PRESERVE = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"
EMBEDDED = "x-kubernetes-embedded-resource"
LIST_TYPE = "x-kubernetes-list-type"
LIST_MAP_KEYS = "x-kubernetes-list-map-keys"
INT_FORMATS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))")


# Paths ------------------------------------------------------------------------------------


def child_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def index_path(path: str, i: int) -> str:
    return f"{path}[{i}]"


def _key(path: str, key: str) -> str:
    return f"{path}[{key}]"


# JSON values ------------------------------------------------------------------------------


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


_JSON_TYPES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (Mapping, "object"),
)


def json_type(value: Any) -> str:
    """The JSON type name of a decoded value, as kube-openapi reports it (`null` for None)."""
    if value is None:
        return "null"
    return next((name for cls, name in _JSON_TYPES if isinstance(value, cls)), type(value).__name__)


def _has_type(value: Any, wanted: str) -> bool:
    """An integer is a valid number, and an integral float a valid integer (kube-openapi's rule)."""
    actual = json_type(value)
    if wanted == "number":
        return actual in ("integer", "number")
    if wanted == "integer" and isinstance(value, float):
        return math.isfinite(value) and value.is_integer()
    return actual == wanted


def _canonical(value: Any) -> Hashable:
    """Equal exactly when two JSON values are equal: 1 == 1.0, but true != 1 and "1" != 1."""
    if isinstance(value, list):
        return ("array", tuple(_canonical(v) for v in value))
    if isinstance(value, Mapping):
        return ("object", frozenset((k, _canonical(v)) for k, v in value.items()))
    kind = "number" if _is_number(value) else json_type(value)
    return (kind, value) if isinstance(value, Hashable) else (kind, repr(value))


def _show_number(value: int | float) -> str:
    """A bound as Go's %v prints a float64: `1`, not `1.0`."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _exact(value: int | float) -> Fraction:
    return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


@functools.lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str] | None:
    """`pattern` compiled with ASCII classes (`\\d` is [0-9], as in ECMA and Go); None if invalid."""
    try:
        return re.compile(pattern, re.ASCII)
    except re.error:
        return None


# Validation: one node ---------------------------------------------------------------------


def validate(schema: Schema, obj: Mapping[str, Any]) -> list[FieldError]:
    """Every field of `obj` that breaks `schema` (a version's openAPIV3Schema), never only the first.

    Fields the schema does not declare are not errors (kube prunes them first, see `prune`),
    unless a node says `additionalProperties: false`.
    """
    return _validate_value(schema, obj, "", root=True)


def _validate_value(schema: Schema, value: Any, path: str, *, root: bool = False) -> list[FieldError]:
    """The type first; a value of the wrong type is not checked further."""
    if value is None:
        return _null_errors(schema, path)
    if type_errs := _type_errors(schema, value, path):
        return type_errs
    errs = [e for check in _CHECKS.get(json_type(value), ()) for e in check(schema, value, path)]
    errs.extend(_junction_errors(schema, value, path))
    if isinstance(value, Mapping):
        errs.extend(_object_children(schema, value, path, root=root))
    elif isinstance(value, list):
        errs.extend(_item_errors(schema, value, path))
    return errs


def _type_error(path: str, received: str, wanted: str) -> FieldError:
    """`Invalid value: "string": spec.x in body must be of type integer: "string"`."""
    return type_invalid(path, received, f'{path} in body must be of type {wanted}: "{received}"')


def _null_errors(schema: Schema, path: str) -> list[FieldError]:
    """null passes when `nullable: true`, or when the node declares no type at all."""
    if schema.get("nullable") is True:
        return []
    if schema.get(INT_OR_STRING) is True:
        return [_type_error(path, "null", "integer or string")]
    wanted = schema.get("type")
    return [_type_error(path, "null", wanted)] if wanted in TYPES else []


def _type_errors(schema: Schema, value: Any, path: str) -> list[FieldError]:
    if schema.get(INT_OR_STRING) is True:
        if _has_type(value, "integer") or isinstance(value, str):
            return []
        return [_type_error(path, json_type(value), "integer or string")]
    wanted = schema.get("type")
    if wanted not in TYPES or _has_type(value, wanted):
        return []
    return [_type_error(path, json_type(value), wanted)]


def _enum_errors(schema: Schema, value: Any, path: str) -> list[FieldError]:
    """`Unsupported value: "x": supported values: "a", "b"` (non-strings shown as JSON)."""
    allowed = schema.get("enum")
    if not isinstance(allowed, list) or _canonical(value) in {_canonical(a) for a in allowed}:
        return []
    shown = [a if isinstance(a, str) else _json_text(a) for a in allowed]
    return [not_supported(path, value, shown)]


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


# Validation: strings ----------------------------------------------------------------------


def _length_errors(schema: Schema, value: str, path: str) -> list[FieldError]:
    """minLength / maxLength count characters (Go runes), not bytes."""
    errs: list[FieldError] = []
    low, high = schema.get("minLength"), schema.get("maxLength")
    if _is_int(low) and len(value) < low:
        errs.append(invalid(path, value, f"{path} in body should be at least {low} chars long"))
    if _is_int(high) and len(value) > high:
        errs.append(FieldError(CauseType.TOO_LONG, path, value, f"may not be longer than {high}"))
    return errs


def _pattern_errors(schema: Schema, value: str, path: str) -> list[FieldError]:
    """An unanchored search, as ECMA `test` and Go `MatchString` do; bad patterns are ignored here."""
    pattern = schema.get("pattern")
    compiled = _compile(pattern) if isinstance(pattern, str) else None
    if compiled is None or compiled.search(value):
        return []
    return [invalid(path, value, f"{path} in body should match '{pattern}'")]


def _is_date(value: str) -> bool:
    match = _DATE.fullmatch(value)
    if match is None:
        return False
    try:
        datetime.date(*(int(part) for part in match.groups()))
    except ValueError:
        return False
    return True


def _is_date_time(value: str) -> bool:
    """RFC 3339 with a time zone: `2024-01-31T12:00:00Z`, `...T12:00:00.5+01:00` (strfmt.IsDateTime)."""
    date, sep, time = value.partition("T") if "T" in value else value.partition("t")
    match = _TIME.fullmatch(time) if sep else None
    if match is None or not _is_date(date):
        return False
    hour, minute, second, zone_hour, zone_minute = (int(g or 0) for g in match.groups())
    return hour <= 23 and minute <= 59 and second <= 59 and zone_hour <= 23 and zone_minute <= 59


_STRING_FORMATS: dict[str, Callable[[str], bool]] = {"date": _is_date, "date-time": _is_date_time}


def _string_format_errors(schema: Schema, value: str, path: str) -> list[FieldError]:
    """`date` and `date-time` must parse; other formats are accepted as they are."""
    fmt = schema.get("format")
    parses = _STRING_FORMATS.get(fmt) if isinstance(fmt, str) else None
    if parses is None or parses(value):
        return []
    return [type_invalid(path, value, f'{path} in body must be of type {fmt}: "{value}"')]


# Validation: numbers ----------------------------------------------------------------------


def _bound_error(value: int | float, path: str, bound: Any, exclusive: bool, *, upper: bool) -> list[FieldError]:
    """One side of minimum/maximum; `exclusiveMinimum: true` makes the bound itself invalid (OpenAPI v3.0)."""
    if not _is_number(bound):
        return []
    low, high = (value, bound) if upper else (bound, value)
    if low < high or (low == high and not exclusive):
        return []
    words = ("less than" if upper else "greater than") + ("" if exclusive else " or equal to")
    return [invalid(path, value, f"{path} in body should be {words} {_show_number(bound)}")]


def _range_errors(schema: Schema, value: int | float, path: str) -> list[FieldError]:
    errs = _bound_error(value, path, schema.get("minimum"), schema.get("exclusiveMinimum") is True, upper=False)
    errs.extend(_bound_error(value, path, schema.get("maximum"), schema.get("exclusiveMaximum") is True, upper=True))
    return errs


def _multiple_of_errors(schema: Schema, value: int | float, path: str) -> list[FieldError]:
    """Exact decimal arithmetic, so 0.3 is a multiple of 0.1."""
    factor = schema.get("multipleOf")
    if not _is_number(factor) or factor <= 0 or not math.isfinite(value):
        return []
    if (_exact(value) / _exact(factor)).denominator == 1:
        return []
    return [invalid(path, value, f"{path} in body should be a multiple of {_show_number(factor)}")]


def _int_format_errors(schema: Schema, value: int | float, path: str) -> list[FieldError]:
    """`format: int32` / `int64`: an integer must fit the width."""
    fmt = schema.get("format")
    limits = INT_FORMATS.get(fmt) if isinstance(fmt, str) else None
    if limits is None or not _has_type(value, "integer") or limits[0] <= value <= limits[1]:
        return []
    return [type_invalid(path, value, f"{path} in body must be of type {fmt}")]


# Validation: arrays -----------------------------------------------------------------------


def _item_count_errors(schema: Schema, value: list[Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    low, high = schema.get("minItems"), schema.get("maxItems")
    if _is_int(low) and len(value) < low:
        errs.append(invalid(path, len(value), f"{path} in body should have at least {low} items"))
    if _is_int(high) and len(value) > high:
        errs.append(FieldError(CauseType.TOO_MANY, path, len(value), f"must have at most {high} items"))
    return errs


def _unique_errors(schema: Schema, value: list[Any], path: str) -> list[FieldError]:
    if schema.get("uniqueItems") is not True or len({_canonical(v) for v in value}) == len(value):
        return []
    return [invalid(path, value, f"{path} in body shouldn't contain duplicates")]


def _map_key(item: Any, keys: tuple[str, ...]) -> tuple[Hashable, ...] | None:
    if not isinstance(item, Mapping):
        return None
    return tuple(_canonical(item.get(k)) for k in keys)


def _list_type_errors(schema: Schema, value: list[Any], path: str) -> list[FieldError]:
    """`x-kubernetes-list-type: set` items, and `map` items' key fields, must be unique."""
    kind = schema.get(LIST_TYPE)
    names = schema.get(LIST_MAP_KEYS)
    keys = tuple(k for k in names if isinstance(k, str)) if isinstance(names, list) else ()
    if kind not in ("set", "map") or (kind == "map" and not keys):
        return []
    errs: list[FieldError] = []
    seen: set[Hashable] = set()
    for i, item in enumerate(value):
        identity = _canonical(item) if kind == "set" else _map_key(item, keys)
        if identity is None:
            continue
        if identity in seen:
            shown = item if kind == "set" else {k: item.get(k) for k in keys}
            errs.append(duplicate(index_path(path, i), shown))
        seen.add(identity)
    return errs


def _item_errors(schema: Schema, value: list[Any], path: str) -> list[FieldError]:
    items = schema.get("items")
    if not isinstance(items, Mapping):
        return []
    return [e for i, item in enumerate(value) for e in _validate_value(items, item, index_path(path, i))]


# Validation: objects ----------------------------------------------------------------------


def _required_errors(schema: Schema, value: Mapping[str, Any], path: str) -> list[FieldError]:
    names = schema.get("required")
    if not isinstance(names, list):
        return []
    return [required(child_path(path, n)) for n in names if isinstance(n, str) and n not in value]


def _property_count_errors(schema: Schema, value: Mapping[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    low, high = schema.get("minProperties"), schema.get("maxProperties")
    if _is_int(low) and len(value) < low:
        errs.append(invalid(path, len(value), f"{path} in body should have at least {low} properties"))
    if _is_int(high) and len(value) > high:
        errs.append(FieldError(CauseType.TOO_MANY, path, len(value), f"must have at most {high} items"))
    return errs


def _embedded_errors(schema: Schema, value: Mapping[str, Any], path: str) -> list[FieldError]:
    """An embedded resource needs a non-empty string apiVersion and kind (metadata is optional)."""
    if schema.get(EMBEDDED) is not True:
        return []
    errs: list[FieldError] = []
    for name in ("apiVersion", "kind"):
        at, field = child_path(path, name), value.get(name)
        if name not in value:
            errs.append(required(at, "must not be empty"))
        elif not isinstance(field, str):
            errs.append(invalid(at, field, "must be a string"))
        elif not field:
            errs.append(invalid(at, field, "must not be empty"))
    return errs


def _resource_fields(schema: Schema, root: bool) -> tuple[str, ...]:
    return RESOURCE_FIELDS if root or schema.get(EMBEDDED) is True else ()


def _object_children(schema: Schema, value: Mapping[str, Any], path: str, *, root: bool) -> list[FieldError]:
    """Declared properties by their schema, the rest by `additionalProperties` (schema or false)."""
    props = as_mapping(schema.get("properties"))
    errs: list[FieldError] = []
    for name, sub in props.items():
        if name in value and isinstance(sub, Mapping) and not (root and name == "metadata"):
            errs.extend(_validate_value(sub, value[name], child_path(path, name)))
    extra, skip = schema.get("additionalProperties"), _resource_fields(schema, root)
    for key, item in value.items():
        if key in props or key in skip:
            continue
        if isinstance(extra, Mapping):
            errs.extend(_validate_value(extra, item, _key(path, key)))
        elif extra is False:
            errs.append(forbidden(child_path(path, key), f"{child_path(path, key)} in body is a forbidden property"))
    return errs


# Validation: allOf, anyOf, oneOf, not -----------------------------------------------------


def _schemas(value: Any) -> list[Schema]:
    return [s for s in value if isinstance(s, Mapping)] if isinstance(value, list) else []


def _junction_errors(schema: Schema, value: Any, path: str) -> list[FieldError]:
    errs = [e for sub in _schemas(schema.get("allOf")) for e in _validate_value(sub, value, path)]
    errs.extend(_any_of_errors(schema, value, path))
    errs.extend(_one_of_errors(schema, value, path))
    errs.extend(_not_errors(schema, value, path))
    return errs


def _any_of_errors(schema: Schema, value: Any, path: str) -> list[FieldError]:
    """No branch passes: the composite error, then the failures of the closest branch."""
    results = [_validate_value(sub, value, path) for sub in _schemas(schema.get("anyOf"))]
    if not results or any(not r for r in results):
        return []
    return [invalid(path, value, f"{path} in body must validate at least one schema (anyOf)"), *min(results, key=len)]


def _one_of_errors(schema: Schema, value: Any, path: str) -> list[FieldError]:
    results = [_validate_value(sub, value, path) for sub in _schemas(schema.get("oneOf"))]
    passing = sum(1 for r in results if not r)
    if not results or passing == 1:
        return []
    detail = f"{path} in body must validate one and only one schema (oneOf)"
    if passing == 0:
        return [invalid(path, value, detail), *min(results, key=len)]
    return [invalid(path, value, f"{detail}. Found {passing} valid alternatives")]


def _not_errors(schema: Schema, value: Any, path: str) -> list[FieldError]:
    sub = schema.get("not")
    if not isinstance(sub, Mapping) or _validate_value(sub, value, path):
        return []
    return [invalid(path, value, f"{path} in body must not validate the schema (not)")]


_CHECKS: dict[str, tuple[Check, ...]] = {
    "string": (_enum_errors, _length_errors, _pattern_errors, _string_format_errors),
    "integer": (_enum_errors, _range_errors, _multiple_of_errors, _int_format_errors),
    "number": (_enum_errors, _range_errors, _multiple_of_errors, _int_format_errors),
    "boolean": (_enum_errors,),
    "array": (_enum_errors, _item_count_errors, _unique_errors, _list_type_errors),
    "object": (_enum_errors, _required_errors, _property_count_errors, _embedded_errors),
}
"""The value checks that apply to each JSON type, in the order their errors are reported."""


# Pruning ----------------------------------------------------------------------------------


def prune(schema: Schema, obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `obj` without the fields `schema` does not declare (kube's structural pruning).

    Unknown fields survive only under `x-kubernetes-preserve-unknown-fields: true` or an
    `additionalProperties` schema (or `true`). The root is a resource: apiVersion, kind and
    metadata stay, as they do inside an `x-kubernetes-embedded-resource`. An object node with
    no properties and no additionalProperties keeps nothing. `obj` is never changed and the
    result shares no containers with it.
    """
    return dict(_prune({**schema, EMBEDDED: True}, obj))


def _subschema(schema: Schema, key: str) -> Schema | None:
    """The schema a field `key` falls under: its property, else an additionalProperties schema."""
    sub = as_mapping(schema.get("properties")).get(key)
    if sub is None and isinstance(schema.get("additionalProperties"), Mapping):
        sub = schema["additionalProperties"]
    if sub is None:
        return None
    return sub if isinstance(sub, Mapping) else {}


def _items(schema: Schema | None) -> Schema | None:
    items = schema.get("items") if schema is not None else None
    return items if isinstance(items, Mapping) else None


def _prune(schema: Schema | None, value: Any) -> Any:
    if schema is not None and schema.get(PRESERVE) is True:
        return _prune_preserving(schema, value)
    if isinstance(value, Mapping):
        return _prune_object(schema, value) if schema is not None else {}
    if isinstance(value, list):
        return [_prune(_items(schema), item) for item in value]
    return value


def _prune_object(schema: Schema, value: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    resource, keep_all = _resource_fields(schema, False), schema.get("additionalProperties") is True
    for key, item in value.items():
        if key in resource:
            out[key] = copy.deepcopy(item)
        elif (sub := _subschema(schema, key)) is not None:
            out[key] = _prune(sub, item)
        elif keep_all:
            out[key] = copy.deepcopy(item)
    return out


def _prune_preserving(schema: Schema | None, value: Any) -> Any:
    """Unknown fields stay; declared ones are still pruned by their own schema (kube's skipPrune)."""
    if schema is None:
        return copy.deepcopy(value)
    if isinstance(value, Mapping):
        resource = _resource_fields(schema, False)
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = None if key in resource else _subschema(schema, key)
            out[key] = copy.deepcopy(item) if sub is None else _prune(sub, item)
        return out
    if isinstance(value, list):
        return [_prune_preserving(_items(schema), item) for item in value]
    return value


__all__ = [
    "INT_FORMATS",
    "RESOURCE_FIELDS",
    "TYPES",
    "Schema",
    "json_type",
    "prune",
    "validate",
]
