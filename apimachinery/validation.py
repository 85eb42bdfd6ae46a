"""Generic validation: name formats and ObjectMeta rules, worded as Kubernetes words them.

Two layers, as in k8s.io/apimachinery:

* `is_*` functions (pkg/util/validation) check one string and return the list of reasons it
  is bad, each message in kube's words; an empty list means valid.
* `validate_*` functions (pkg/api/validation/objectmeta.go, meta/v1/validation) check part of
  an object and return every `FieldError`, with its field path, never only the first.

Lengths count UTF-8 bytes, as Go's `len` does. Patterns must match the whole string.

    >>> is_dns1123_label("web-0")
    []
    >>> is_dns1123_label("Web")[0][:45]
    'a lowercase RFC 1123 label must consist of lo'
    >>> [str(e) for e in validate_object_meta({"name": "x"}, namespaced=True, name_rule=name_is_dns_subdomain)]
    ['metadata.namespace: Required value']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

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

DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1035_LABEL_MAX_LENGTH = 63
QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
TOTAL_ANNOTATION_SIZE_LIMIT_B = 256 * (1 << 10)  # 262144: keys plus values, in bytes
FIELD_IMMUTABLE_ERROR_MSG = "field is immutable"
IS_NEGATIVE_ERROR_MSG = "must be greater than or equal to 0"
FINALIZER_ORPHAN_DEPENDENTS = "orphan"
FINALIZER_DELETE_DEPENDENTS = "foregroundDeletion"

NameRule = Callable[[str, bool], list[str]]
"""ValidateNameFunc: (name, prefix) -> messages. `prefix` is True for a generateName."""


# --- message builders (validation.MaxLenError, RegexError, ...) ---------------------------


def max_len_error(length: int) -> str:
    return f"must be no more than {length} characters"


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """`msg (e.g. 'a' or 'b', regex used for validation is 'fmt')`."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}'" for e in examples)
    return f"{msg} (e.g. {shown}, regex used for validation is '{fmt}')"


def empty_error() -> str:
    return "must be non-empty"


def inclusive_range_error(lo: int, hi: int) -> str:
    return f"must be between {lo} and {hi}, inclusive"


def _nbytes(value: str) -> int:
    return len(value) if value.isascii() else len(value.encode())


# --- formats (pkg/util/validation) ---------------------------------------------------------

DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_FMT = DNS1123_LABEL_FMT + "(\\." + DNS1123_LABEL_FMT + ")*"
DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE_FMT = "(" + QUALIFIED_NAME_FMT + ")?"
CONFIG_MAP_KEY_FMT = "[-._a-zA-Z0-9]+"

_DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
_QUALIFIED_NAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_CONFIG_MAP_KEY_MSG = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"

_dns1123_label = re.compile(DNS1123_LABEL_FMT)
_dns1123_subdomain = re.compile(DNS1123_SUBDOMAIN_FMT)
_dns1035_label = re.compile(DNS1035_LABEL_FMT)
_qualified_name = re.compile(QUALIFIED_NAME_FMT)
_label_value = re.compile(LABEL_VALUE_FMT)
_config_map_key = re.compile(CONFIG_MAP_KEY_FMT)
_port_name_charset = re.compile("[-a-z0-9]+")


def is_dns1123_label(value: str) -> list[str]:
    """An RFC 1123 label: <= 63 bytes, `[a-z0-9]([-a-z0-9]*[a-z0-9])?` (namespace names)."""
    errs = []
    if _nbytes(value) > DNS1123_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_LABEL_MAX_LENGTH))
    if not _dns1123_label.fullmatch(value):
        if _dns1123_subdomain.fullmatch(value):
            errs.append("must not contain dots")  # a valid subdomain, so only the dots are wrong
        else:
            errs.append(regex_error(_DNS1123_LABEL_MSG, DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    """A lowercase RFC 1123 subdomain: <= 253 bytes, dot-separated labels (most object names)."""
    errs = []
    if _nbytes(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _dns1123_subdomain.fullmatch(value):
        errs.append(regex_error(_DNS1123_SUBDOMAIN_MSG, DNS1123_SUBDOMAIN_FMT, "example.com"))
    return errs


def is_dns1035_label(value: str) -> list[str]:
    """An RFC 1035 label: <= 63 bytes, starts with a letter (Service names)."""
    errs = []
    if _nbytes(value) > DNS1035_LABEL_MAX_LENGTH:
        errs.append(max_len_error(DNS1035_LABEL_MAX_LENGTH))
    if not _dns1035_label.fullmatch(value):
        errs.append(regex_error(_DNS1035_LABEL_MSG, DNS1035_LABEL_FMT, "my-name", "abc-123"))
    return errs


def is_qualified_name(value: str) -> list[str]:
    """A label or annotation key: an optional DNS-subdomain prefix and `/`, then a name <= 63."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part " + empty_error())
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(_QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part " + empty_error())
    elif _nbytes(name) > QUALIFIED_NAME_MAX_LENGTH:
        errs.append("name part " + max_len_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _qualified_name.fullmatch(name):
        errs.append("name part " + regex_error(_QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, "MyName", "my.name", "123-abc"))
    return errs


def is_valid_label_value(value: str) -> list[str]:
    """A label value: empty, or <= 63 bytes of `[-A-Za-z0-9_.]` starting and ending alphanumeric."""
    errs = []
    if _nbytes(value) > LABEL_VALUE_MAX_LENGTH:
        errs.append(max_len_error(LABEL_VALUE_MAX_LENGTH))
    if not _label_value.fullmatch(value):
        errs.append(regex_error(_LABEL_VALUE_MSG, LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def is_config_map_key(value: str) -> list[str]:
    """A ConfigMap or Secret data key: <= 253 bytes of `[-._a-zA-Z0-9]`, not `.`/`..`/`..*`."""
    errs = []
    if _nbytes(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _config_map_key.fullmatch(value):
        errs.append(regex_error(_CONFIG_MAP_KEY_MSG, CONFIG_MAP_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    if value == ".":
        errs.append("must not be '.'")
    elif value == "..":
        errs.append("must not be '..'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def is_valid_port_num(port: int) -> list[str]:
    """A non-zero TCP/UDP port: 1..65535."""
    return [] if 1 <= port <= 65535 else [inclusive_range_error(1, 65535)]


def is_valid_port_name(port: str) -> list[str]:
    """An IANA_SVC_NAME: <= 15 chars of [-a-z0-9], a letter, no `--`, no leading/trailing `-`."""
    errs = []
    if len(port) > 15:
        errs.append(max_len_error(15))
    if not _port_name_charset.fullmatch(port):
        errs.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", port):
        errs.append("must contain at least one letter (a-z)")
    if "--" in port:
        errs.append("must not contain consecutive hyphens")
    if port and (port[0] == "-" or port[-1] == "-"):
        errs.append("must not begin or end with a hyphen")
    return errs


# --- name rules (pkg/api/validation/generic.go) --------------------------------------------


def _mask_trailing_dash(name: str) -> str:
    # A generateName may end in "-": the generated suffix follows it.
    return name[:-1] + "a" if name.endswith("-") else name


def name_is_dns_subdomain(name: str, prefix: bool = False) -> list[str]:
    """NameIsDNSSubdomain: the rule for most kinds."""
    return is_dns1123_subdomain(_mask_trailing_dash(name) if prefix else name)


def name_is_dns_label(name: str, prefix: bool = False) -> list[str]:
    """NameIsDNSLabel: namespaces (and StatefulSets)."""
    return is_dns1123_label(_mask_trailing_dash(name) if prefix else name)


def name_is_dns1035_label(name: str, prefix: bool = False) -> list[str]:
    """NameIsDNS1035Label: Services."""
    return is_dns1035_label(_mask_trailing_dash(name) if prefix else name)


# --- field validators ----------------------------------------------------------------------


def validate_nonnegative(value: Any, path: str) -> list[FieldError]:
    """ValidateNonnegativeField: `must be greater than or equal to 0`."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        return [invalid(path, value, IS_NEGATIVE_ERROR_MSG)]
    return []


def validate_immutable_field(new: Any, old: Any, path: str) -> list[FieldError]:
    """ValidateImmutableField: `field is immutable` when new differs from old."""
    return [] if new == old else [invalid(path, new, FIELD_IMMUTABLE_ERROR_MSG)]


def _string_map(value: Any, path: str) -> tuple[Mapping[str, str], list[FieldError]]:
    if value is None:
        return {}, []
    if not isinstance(value, Mapping):
        return {}, [type_invalid(path, value, "must be an object")]
    bad = [type_invalid(f"{path}[{k}]", v, "must be a string") for k, v in value.items() if not isinstance(v, str)]
    return {k: v for k, v in value.items() if isinstance(v, str)}, bad


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    """Each key a qualified name, each value a label value; errors sit on the map's path."""
    mapping, errs = _string_map(labels, path)
    for key, value in mapping.items():
        errs.extend(invalid(path, key, msg) for msg in is_qualified_name(key))
        errs.extend(invalid(path, value, msg) for msg in is_valid_label_value(value))
    return errs


def validate_annotations(annotations: Any, path: str) -> list[FieldError]:
    """Keys are qualified names in any case; keys plus values total at most 256 KiB."""
    mapping, errs = _string_map(annotations, path)
    total = 0
    for key, value in mapping.items():
        errs.extend(invalid(path, key, msg) for msg in is_qualified_name(key.lower()))
        total += _nbytes(key) + _nbytes(value)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT_B:
        detail = f"must have at most {TOTAL_ANNOTATION_SIZE_LIMIT_B} bytes"
        errs.append(FieldError(CauseType.TOO_LONG, path, detail=detail))
    return errs


def _split_group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def validate_owner_references(refs: Any, path: str) -> list[FieldError]:
    """apiVersion (with a version), kind, name, uid set; no Event owners; one controller at most."""
    if refs is None:
        return []
    if not isinstance(refs, list):
        return [type_invalid(path, refs, "must be an array")]
    errs: list[FieldError] = []
    first_controller = ""
    for ref in refs:
        if not isinstance(ref, Mapping):
            errs.append(type_invalid(path, ref, "must be an object"))
            continue
        api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
        group, version = _split_group_version(api_version)
        if not version:
            errs.append(invalid(f"{path}.apiVersion", api_version, "version must not be empty"))
        for key in ("kind", "name", "uid"):
            if not ref.get(key):
                errs.append(invalid(f"{path}.{key}", str(ref.get(key) or ""), "must not be empty"))
        if (group, version, kind) == ("", "v1", "Event"):
            errs.append(invalid(path, dict(ref), "/v1, Kind=Event is disallowed from being an owner"))
        if ref.get("controller") is True:
            this = f"{kind}/{ref.get('name', '')}"
            if first_controller:
                detail = (
                    'Only one reference can have Controller set to true. Found "true" in references for '
                    f"{first_controller} and {this}"
                )
                errs.append(invalid(path, refs, detail))
            else:
                first_controller = this
    return errs


def validate_finalizers(finalizers: Any, path: str) -> list[FieldError]:
    """Each finalizer a qualified name, no duplicates, not both `orphan` and `foregroundDeletion`.

    kube-apiserver only warns about duplicate finalizers; we reject them (Duplicate value).
    """
    if finalizers is None:
        return []
    if not isinstance(finalizers, list):
        return [type_invalid(path, finalizers, "must be an array")]
    errs: list[FieldError] = []
    seen: set[str] = set()
    for i, finalizer in enumerate(finalizers):
        if not isinstance(finalizer, str):
            errs.append(type_invalid(f"{path}[{i}]", finalizer, "must be a string"))
            continue
        errs.extend(invalid(path, finalizer, msg) for msg in is_qualified_name(finalizer))
        if finalizer in seen:
            errs.append(duplicate(f"{path}[{i}]", finalizer))
        seen.add(finalizer)
    if FINALIZER_ORPHAN_DEPENDENTS in seen and FINALIZER_DELETE_DEPENDENTS in seen:
        detail = f"finalizer {FINALIZER_ORPHAN_DEPENDENTS} and {FINALIZER_DELETE_DEPENDENTS} cannot be both set"
        errs.append(invalid(path, finalizers, detail))
    return errs


def validate_object_meta(
    meta: Any, *, namespaced: bool | None, name_rule: NameRule, path: str = "metadata"
) -> list[FieldError]:
    """ValidateObjectMeta for a create: every problem in `meta`, each with its field path.

    `namespaced=None` skips the presence rule (scope unknown) but still checks the format.
    """
    if not isinstance(meta, Mapping):
        return [required(path, "")] if meta is None else [type_invalid(path, meta, "must be an object")]
    errs: list[FieldError] = []
    name, generate_name = meta.get("name") or "", meta.get("generateName") or ""
    if generate_name:
        errs.extend(invalid(f"{path}.generateName", generate_name, m) for m in name_rule(str(generate_name), True))
    if not name:
        errs.append(required(f"{path}.name", "name or generateName is required"))
    else:
        errs.extend(invalid(f"{path}.name", name, m) for m in name_rule(str(name), False))
    ns = str(meta.get("namespace") or "")
    if namespaced and not ns:
        errs.append(required(f"{path}.namespace"))
    elif namespaced is False and ns:
        errs.append(forbidden(f"{path}.namespace", "not allowed on this type"))
    elif ns:
        errs.extend(invalid(f"{path}.namespace", ns, m) for m in name_is_dns_label(ns, False))
    errs.extend(validate_nonnegative(meta.get("generation"), f"{path}.generation"))
    errs.extend(validate_labels(meta.get("labels"), f"{path}.labels"))
    errs.extend(validate_annotations(meta.get("annotations"), f"{path}.annotations"))
    errs.extend(validate_owner_references(meta.get("ownerReferences"), f"{path}.ownerReferences"))
    errs.extend(validate_finalizers(meta.get("finalizers"), f"{path}.finalizers"))
    return errs


def validate_object_meta_update(
    new: Any, old: Any, *, path: str = "metadata", require_resource_version: bool = True
) -> list[FieldError]:
    """ValidateObjectMetaUpdate: identity fields immutable, plus the create-time content rules.

    kube-apiserver fills an empty resourceVersion from the stored object before validating an
    unconditional update; a caller that does not should pass `require_resource_version=False`.
    """
    new = new if isinstance(new, Mapping) else {}
    old = old if isinstance(old, Mapping) else {}
    errs: list[FieldError] = []
    if old.get("deletionTimestamp") is not None:
        added = sorted(set(new.get("finalizers") or ()) - set(old.get("finalizers") or ()))
        if added:
            shown = "[]string{" + ", ".join(f'"{f}"' for f in added) + "}"
            detail = f"no new finalizers can be added if the object is being deleted, found new finalizers {shown}"
            errs.append(forbidden(f"{path}.finalizers", detail))
    if require_resource_version and not new.get("resourceVersion"):
        errs.append(invalid(f"{path}.resourceVersion", "", "must be specified for an update"))
    new_gen, old_gen = new.get("generation") or 0, old.get("generation") or 0
    if isinstance(new_gen, int) and isinstance(old_gen, int) and new_gen < old_gen:
        errs.append(invalid(f"{path}.generation", new_gen, "must not be decremented"))
    for key, zero in (("name", ""), ("namespace", ""), ("uid", ""), ("creationTimestamp", None)):
        errs.extend(validate_immutable_field(new.get(key) or zero, old.get(key) or zero, f"{path}.{key}"))
    for key in ("deletionTimestamp", "deletionGracePeriodSeconds"):
        errs.extend(validate_immutable_field(new.get(key), old.get(key), f"{path}.{key}"))
    errs.extend(validate_labels(new.get("labels"), f"{path}.labels"))
    errs.extend(validate_annotations(new.get("annotations"), f"{path}.annotations"))
    errs.extend(validate_owner_references(new.get("ownerReferences"), f"{path}.ownerReferences"))
    errs.extend(validate_finalizers(new.get("finalizers"), f"{path}.finalizers"))
    return errs


_SELECTOR_OPS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(selector: Any, path: str) -> list[FieldError]:
    """ValidateLabelSelector: matchLabels as labels; each matchExpression's operator, values, key."""
    if selector is None:
        return []
    if not isinstance(selector, Mapping):
        return [type_invalid(path, selector, "must be an object")]
    errs = validate_labels(selector.get("matchLabels"), f"{path}.matchLabels")
    exprs = selector.get("matchExpressions") or []
    if not isinstance(exprs, list):
        return [*errs, type_invalid(f"{path}.matchExpressions", exprs, "must be an array")]
    for i, expr in enumerate(exprs):
        at = f"{path}.matchExpressions[{i}]"
        if not isinstance(expr, Mapping):
            errs.append(type_invalid(at, expr, "must be an object"))
            continue
        op, values = expr.get("operator"), expr.get("values") or []
        if op in ("In", "NotIn") and not values:
            errs.append(required(f"{at}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif op in ("Exists", "DoesNotExist") and values:
            errs.append(forbidden(f"{at}.values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        elif op not in _SELECTOR_OPS:
            errs.append(invalid(f"{at}.operator", op, "not a valid selector operator"))
        key = str(expr.get("key") or "")
        errs.extend(invalid(f"{at}.key", key, m) for m in is_qualified_name(key))
    return errs


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a metav1.LabelSelector selects `labels` (an empty selector selects everything)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        present = key in labels
        if op == "In" and not (present and labels[key] in values):
            return False
        if op == "NotIn" and present and labels[key] in values:
            return False
        if op == "Exists" and not present:
            return False
        if op == "DoesNotExist" and present:
            return False
    return True


def validate_enum(value: Any, path: str, allowed: tuple[str, ...], *, defaulted: bool = False) -> list[FieldError]:
    """`Required value` when unset (unless defaulting fills it), `Unsupported value` when not in `allowed`."""
    if value is None or value == "":
        return [] if defaulted else [required(path)]
    return [] if value in allowed else [not_supported(path, value, allowed)]


__all__ = [
    "DNS1035_LABEL_MAX_LENGTH",
    "DNS1123_LABEL_MAX_LENGTH",
    "DNS1123_SUBDOMAIN_MAX_LENGTH",
    "FIELD_IMMUTABLE_ERROR_MSG",
    "IS_NEGATIVE_ERROR_MSG",
    "LABEL_VALUE_MAX_LENGTH",
    "QUALIFIED_NAME_MAX_LENGTH",
    "TOTAL_ANNOTATION_SIZE_LIMIT_B",
    "NameRule",
    "empty_error",
    "inclusive_range_error",
    "is_config_map_key",
    "is_dns1035_label",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "is_qualified_name",
    "is_valid_label_value",
    "is_valid_port_name",
    "is_valid_port_num",
    "max_len_error",
    "name_is_dns1035_label",
    "name_is_dns_label",
    "name_is_dns_subdomain",
    "regex_error",
    "selector_matches",
    "validate_annotations",
    "validate_enum",
    "validate_finalizers",
    "validate_immutable_field",
    "validate_label_selector",
    "validate_labels",
    "validate_nonnegative",
    "validate_object_meta",
    "validate_object_meta_update",
    "validate_owner_references",
]
