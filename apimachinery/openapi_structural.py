"""What a v1 CRD version's own `openAPIV3Schema` and subresources must satisfy.

A subset of apiextensions-apiserver's CRD validation: a structural schema (the root is an
object, every node states its type, keywords have the right shapes) and the two known
subresources. Paths name schema nodes the way apiextensions does (`properties[spec]`).

    >>> [str(e) for e in validate_structural({"properties": {}}, "openAPIV3Schema")]
    ['openAPIV3Schema.type: Required value: must not be empty at the root']
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from apimachinery.errors import FieldError, forbidden, invalid, not_supported, required, type_invalid
from apimachinery.openapi_schema import (
    INT_OR_STRING,
    LIST_MAP_KEYS,
    LIST_TYPE,
    LIST_TYPES,
    PRESERVE,
    TYPES,
    Schema,
    as_mapping,
    child_path,
    index_path,
)

SUBRESOURCES = ("scale", "status")


def validate_structural(schema: Any, path: str) -> list[FieldError]:
    """The rules a v1 CRD version's openAPIV3Schema must follow (a subset of apiextensions').

    The root is `type: object`; a node with `properties` or `items` states its type (unless
    int-or-string or preserve-unknown-fields); types are the six of OpenAPI; arrays have
    `items`; `properties` excludes `additionalProperties`; `required` lists strings; `enum` is
    a list; `pattern` compiles. Inside allOf/anyOf/oneOf/not only value keywords are checked.
    """
    if not isinstance(schema, Mapping):
        return [type_invalid(path, schema, "must be an object")]
    kind, at = schema.get("type"), child_path(path, "type")
    errs: list[FieldError] = []
    if not kind:
        errs.append(required(at, "must not be empty at the root"))
    elif kind in TYPES and kind != "object":
        errs.append(invalid(at, kind, "must be object at the root"))
    return errs + _structural_node(schema, path, need_type=False, value_only=False)


def _structural_sub(schema: Any, path: str, *, value_only: bool) -> list[FieldError]:
    if not isinstance(schema, Mapping):
        return [type_invalid(path, schema, "must be an object")]
    return _structural_node(schema, path, need_type=not value_only, value_only=value_only)


def _structural_node(schema: Schema, path: str, *, need_type: bool, value_only: bool) -> list[FieldError]:
    errs = _structural_type_errors(schema, path, need_type=need_type, need_items=not value_only)
    errs.extend(_keyword_shape_errors(schema, path))
    errs.extend(_structural_children(schema, path, value_only=value_only))
    return errs


def _structural_type_errors(schema: Schema, path: str, *, need_type: bool, need_items: bool) -> list[FieldError]:
    kind, at = schema.get("type"), child_path(path, "type")
    if kind and kind not in TYPES:
        return [not_supported(at, kind, TYPES)]
    errs: list[FieldError] = []
    untyped_ok = schema.get(INT_OR_STRING) is True or schema.get(PRESERVE) is True
    if need_type and not kind and not untyped_ok:
        if "properties" in schema:
            errs.append(required(at, "must not be empty for specified object fields"))
        elif "items" in schema:
            errs.append(required(at, "must not be empty for specified array items"))
    if need_items and kind == "array" and "items" not in schema:
        errs.append(required(child_path(path, "items"), "must be specified"))
    return errs


def _keyword_shape_errors(schema: Schema, path: str) -> list[FieldError]:
    errs = _required_shape_errors(schema.get("required"), child_path(path, "required"))
    if "enum" in schema and not isinstance(schema["enum"], list):
        errs.append(type_invalid(child_path(path, "enum"), schema["enum"], "must be an array"))
    errs.extend(_pattern_shape_errors(schema, path))
    errs.extend(_list_type_shape_errors(schema, path))
    extra = schema.get("additionalProperties")
    if as_mapping(schema.get("properties")) and extra is not None and extra is not True:
        detail = "additionalProperties and properties are mutual exclusive"
        errs.append(forbidden(child_path(path, "additionalProperties"), detail))
    return errs


def _required_shape_errors(names: Any, path: str) -> list[FieldError]:
    if names is None:
        return []
    if not isinstance(names, list):
        return [type_invalid(path, names, "must be an array of strings")]
    return [invalid(index_path(path, i), n, "must be a string") for i, n in enumerate(names) if not isinstance(n, str)]


def _pattern_shape_errors(schema: Schema, path: str) -> list[FieldError]:
    pattern, at = schema.get("pattern"), child_path(path, "pattern")
    if pattern is None:
        return []
    if not isinstance(pattern, str):
        return [type_invalid(at, pattern, "must be a string")]
    try:
        re.compile(pattern, re.ASCII)
    except re.error as e:
        return [invalid(at, pattern, f"must be a valid regular expression, but isn't: {e}")]
    return []


def _list_type_shape_errors(schema: Schema, path: str) -> list[FieldError]:
    kind = schema.get(LIST_TYPE)
    if kind is None:
        return []
    if kind not in LIST_TYPES:
        return [not_supported(child_path(path, LIST_TYPE), kind, LIST_TYPES)]
    if kind == "map" and not schema.get(LIST_MAP_KEYS):
        return [required(child_path(path, LIST_MAP_KEYS), "must not be empty if x-kubernetes-list-type is map")]
    return []


def _structural_children(schema: Schema, path: str, *, value_only: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    props = schema.get("properties")
    if props is not None and not isinstance(props, Mapping):
        errs.append(type_invalid(child_path(path, "properties"), props, "must be an object"))
    for name, sub in as_mapping(props).items():
        errs.extend(_structural_sub(sub, f"{path}.properties[{name}]", value_only=value_only))
    items = schema.get("items")
    if isinstance(items, list):
        errs.append(forbidden(child_path(path, "items"), "items must be a schema object and not an array"))
    elif items is not None:
        errs.extend(_structural_sub(items, child_path(path, "items"), value_only=value_only))
    extra = schema.get("additionalProperties")
    if extra is not None and not isinstance(extra, bool):
        errs.extend(_structural_sub(extra, child_path(path, "additionalProperties"), value_only=value_only))
    return errs + _structural_junctions(schema, path)


def _structural_junctions(schema: Schema, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for word in ("allOf", "anyOf", "oneOf"):
        subs = schema.get(word)
        if subs is not None and not isinstance(subs, list):
            errs.append(type_invalid(child_path(path, word), subs, "must be an array"))
        for i, sub in enumerate(subs if isinstance(subs, list) else ()):
            errs.extend(_structural_sub(sub, index_path(child_path(path, word), i), value_only=True))
    if "not" in schema:
        errs.extend(_structural_sub(schema["not"], child_path(path, "not"), value_only=True))
    return errs


# CRD versions: schema and subresources ----------------------------------------------------


def validate_version(version: Mapping[str, Any], path: str) -> list[FieldError]:
    """One `spec.versions[i]` of a v1 CRD: a structural schema is required; subresources are known.

    >>> [str(e) for e in validate_version({"name": "v1"}, "spec.versions[0]")]
    ['spec.versions[0].schema.openAPIV3Schema: Required value: schemas are required']
    """
    at = f"{path}.schema.openAPIV3Schema"
    schema = as_mapping(version.get("schema")).get("openAPIV3Schema")
    errs = [required(at, "schemas are required")] if schema is None else validate_structural(schema, at)
    if version.get("subresources") is not None:
        errs.extend(validate_subresources(version["subresources"], f"{path}.subresources"))
    return errs


def validate_subresources(subresources: Any, path: str) -> list[FieldError]:
    """Only `status` (an empty object) and `scale` (replica paths) are known subresources."""
    if not isinstance(subresources, Mapping):
        return [type_invalid(path, subresources, "must be an object")]
    errs: list[FieldError] = []
    for name, value in subresources.items():
        at = child_path(path, str(name))
        if name == "status":
            errs.extend(_status_subresource_errors(value, at))
        elif name == "scale":
            errs.extend(_scale_subresource_errors(value, at))
        else:
            errs.append(not_supported(at, name, SUBRESOURCES))
    return errs


def _status_subresource_errors(value: Any, path: str) -> list[FieldError]:
    if value is None or (isinstance(value, Mapping) and not value):
        return []
    return [invalid(path, value, "must be an empty object")]


def _scale_subresource_errors(value: Any, path: str) -> list[FieldError]:
    """CustomResourceSubresourceScale: replica paths under .spec and .status, an optional selector path."""
    if not isinstance(value, Mapping):
        return [type_invalid(path, value, "must be an object")]
    errs = _json_path_errors(value.get("specReplicasPath"), child_path(path, "specReplicasPath"), (".spec.",), ".spec")
    status_at = child_path(path, "statusReplicasPath")
    errs.extend(_json_path_errors(value.get("statusReplicasPath"), status_at, (".status.",), ".status"))
    if value.get("labelSelectorPath") is not None:
        selector_at = child_path(path, "labelSelectorPath")
        under = "either .spec or .status"
        errs.extend(_json_path_errors(value["labelSelectorPath"], selector_at, (".spec.", ".status."), under))
    return errs


def _json_path_errors(value: Any, path: str, prefixes: tuple[str, ...], under: str) -> list[FieldError]:
    """A simple dotted JSON path (`.spec.replicas`) starting with one of `prefixes`."""
    if value is None or value == "":
        return [required(path)]
    if not isinstance(value, str):
        return [type_invalid(path, value, "must be a string")]
    if not value.startswith("."):
        return [invalid(path, value, "must be a simple json path starting with .")]
    if any(not part for part in value[1:].split(".")):
        return [invalid(path, value, "must be a json path in the dot notation")]
    if not value.startswith(prefixes):
        return [invalid(path, value, f"should be a json path under {under}")]
    return []


__all__ = ["SUBRESOURCES", "validate_structural", "validate_subresources", "validate_version"]
