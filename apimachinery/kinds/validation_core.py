"""Spec rules for core/v1 kinds (pkg/apis/core/validation), a small honest subset.

Pod specs (also reused for every pod template), Services, ConfigMaps and Secrets. Fields
that kube-apiserver defaults before validating (a Pod's restartPolicy, a port's protocol, a
Service's type) are accepted when absent, as if defaulting had run.

    >>> [str(e) for e in validate_pod_spec({"containers": [{"name": "web"}]}, "spec")]
    ['spec.containers[0].image: Required value']
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, TypeGuard

from apimachinery.errors import (
    CauseType,
    FieldError,
    duplicate,
    forbidden,
    invalid,
    required,
    type_invalid,
)
from apimachinery.validation import (
    inclusive_range_error,
    is_config_map_key,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_valid_port_name,
    is_valid_port_num,
    validate_annotations,
    validate_enum,
    validate_labels,
)

RESTART_POLICIES = ("Always", "OnFailure", "Never")
PROTOCOLS = ("SCTP", "TCP", "UDP")  # sorted, as sets.List gives them
SERVICE_TYPES = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
MAX_SECRET_SIZE = 1 * 1024 * 1024  # core.MaxSecretSize, also the ConfigMap limit
MAX_INT32 = 2**31 - 1
POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,"
    "`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),"
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any, path: str, errs: list[FieldError]) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        errs.append(type_invalid(path, value, "must be an array"))
        return []
    return value


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_container_ports(ports: Any, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(_list(ports, path, errs)):
        at, port = f"{path}[{i}]", _mapping(port)
        port_name = port.get("name")
        if port_name:
            msgs = is_valid_port_name(str(port_name))
            errs.extend(invalid(f"{at}.name", port_name, m) for m in msgs)
            if not msgs and port_name in names:
                errs.append(duplicate(f"{at}.name", port_name))
            names.add(str(port_name))
        number = port.get("containerPort")
        if not number:
            errs.append(required(f"{at}.containerPort"))
        elif not _is_int(number):
            errs.append(type_invalid(f"{at}.containerPort", number, "must be an integer"))
        else:
            errs.extend(invalid(f"{at}.containerPort", number, m) for m in is_valid_port_num(number))
        host = port.get("hostPort")
        if _is_int(host) and host != 0:
            errs.extend(invalid(f"{at}.hostPort", host, m) for m in is_valid_port_num(host))
        errs.extend(validate_enum(port.get("protocol"), f"{at}.protocol", PROTOCOLS, defaulted=True))
    return errs


def _validate_containers(containers: Any, path: str, names: set[str]) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, ctr in enumerate(_list(containers, path, errs)):
        at = f"{path}[{i}]"
        if not isinstance(ctr, Mapping):
            errs.append(type_invalid(at, ctr, "must be an object"))
            continue
        ctr_name = ctr.get("name")
        if not ctr_name:
            errs.append(required(f"{at}.name"))
        else:
            errs.extend(invalid(f"{at}.name", ctr_name, m) for m in is_dns1123_label(str(ctr_name)))
            if ctr_name in names:
                errs.append(duplicate(f"{at}.name", ctr_name))
            names.add(str(ctr_name))
        if not ctr.get("image"):
            errs.append(required(f"{at}.image"))
        errs.extend(_validate_container_ports(ctr.get("ports"), f"{at}.ports"))
    return errs


def validate_pod_spec(spec: Any, path: str) -> list[FieldError]:
    """ValidatePodSpec (subset): containers, initContainers, restartPolicy, activeDeadlineSeconds."""
    if not isinstance(spec, Mapping):
        return [required(path)] if spec is None else [type_invalid(path, spec, "must be an object")]
    errs: list[FieldError] = []
    names: set[str] = set()
    errs.extend(_validate_containers(spec.get("initContainers"), f"{path}.initContainers", names))
    if not spec.get("containers"):
        errs.append(required(f"{path}.containers"))
    else:
        errs.extend(_validate_containers(spec.get("containers"), f"{path}.containers", names))
    errs.extend(validate_enum(spec.get("restartPolicy"), f"{path}.restartPolicy", RESTART_POLICIES, defaulted=True))
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not _is_int(deadline) or not 1 <= deadline <= MAX_INT32):
        errs.append(invalid(f"{path}.activeDeadlineSeconds", deadline, inclusive_range_error(1, MAX_INT32)))
    return errs


def validate_pod_template_spec(template: Any, path: str) -> list[FieldError]:
    """ValidatePodTemplateSpec: the template's labels and annotations, then its pod spec."""
    if not isinstance(template, Mapping):
        return [required(path)] if template is None else [type_invalid(path, template, "must be an object")]
    meta = _mapping(template.get("metadata"))
    errs = validate_labels(meta.get("labels"), f"{path}.labels")
    errs.extend(validate_annotations(meta.get("annotations"), f"{path}.annotations"))
    errs.extend(validate_pod_spec(template.get("spec"), f"{path}.spec"))
    return errs


def restart_policy(template: Any) -> str:
    """The template's restartPolicy after defaulting ("Always" when unset)."""
    spec = _mapping(_mapping(template).get("spec"))
    return str(spec.get("restartPolicy") or "Always")


def validate_pod(obj: Mapping[str, Any]) -> list[FieldError]:
    return validate_pod_spec(obj.get("spec"), "spec")


def _without_updatable(spec: Mapping[str, Any], old: Mapping[str, Any]) -> dict[str, Any]:
    """`spec` with the fields a pod update may change copied over from `old`."""
    masked = dict(spec)
    for key in ("containers", "initContainers"):
        new_list, old_list = spec.get(key), old.get(key)
        if isinstance(new_list, list) and isinstance(old_list, list) and len(new_list) == len(old_list):
            masked[key] = [
                {**n, "image": o.get("image")} if isinstance(n, Mapping) and isinstance(o, Mapping) else n
                for n, o in zip(new_list, old_list, strict=True)
            ]
    for key in ("activeDeadlineSeconds", "tolerations"):
        masked.pop(key, None)
        if key in old:
            masked[key] = old[key]
    grace_new, grace_old = spec.get("terminationGracePeriodSeconds"), old.get("terminationGracePeriodSeconds")
    if _is_int(grace_old) and grace_old < 0 and grace_new == 1:
        masked["terminationGracePeriodSeconds"] = grace_old
    return masked


def validate_pod_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    """ValidatePodUpdate (subset): a pod's spec is immutable except images, deadline, tolerations."""
    spec, old_spec = _mapping(new.get("spec")), _mapping(old.get("spec"))
    errs = validate_pod_spec(new.get("spec"), "spec")
    deadline, old_deadline = spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    if deadline is None and old_deadline is not None:
        errs.append(invalid("spec.activeDeadlineSeconds", None, "must not update from a positive integer to nil value"))
    elif _is_int(deadline) and _is_int(old_deadline) and old_deadline < deadline:
        errs.append(invalid("spec.activeDeadlineSeconds", deadline, "must be less than or equal to previous value"))
    old_tolerations = old_spec.get("tolerations") or []
    new_tolerations = spec.get("tolerations") or []
    if isinstance(new_tolerations, list) and any(t not in new_tolerations for t in old_tolerations):
        errs.append(
            forbidden("spec.tolerations", "existing toleration can not be modified except its tolerationSeconds")
        )
    if _without_updatable(spec, old_spec) != dict(old_spec):
        errs.append(forbidden("spec", POD_UPDATE_FORBIDDEN))
    return errs


def _validate_service_port(port: Any, at: str, require_name: bool, names: set[str]) -> list[FieldError]:
    if not isinstance(port, Mapping):
        return [type_invalid(at, port, "must be an object")]
    errs: list[FieldError] = []
    port_name = port.get("name")
    if require_name and not port_name:
        errs.append(required(f"{at}.name"))
    elif port_name:
        errs.extend(invalid(f"{at}.name", port_name, m) for m in is_dns1123_label(str(port_name)))
        if port_name in names:
            errs.append(duplicate(f"{at}.name", port_name))
        names.add(str(port_name))
    number = port.get("port", 0)
    if not _is_int(number):
        errs.append(type_invalid(f"{at}.port", number, "must be an integer"))
    else:
        errs.extend(invalid(f"{at}.port", number, m) for m in is_valid_port_num(number))
    errs.extend(validate_enum(port.get("protocol"), f"{at}.protocol", PROTOCOLS, defaulted=True))
    target = port.get("targetPort")
    if _is_int(target):
        errs.extend(invalid(f"{at}.targetPort", target, m) for m in is_valid_port_num(target))
    elif isinstance(target, str) and target:
        errs.extend(invalid(f"{at}.targetPort", target, m) for m in is_valid_port_name(target))
    return errs


def validate_service(obj: Mapping[str, Any]) -> list[FieldError]:
    """ValidateService (subset): type, ports (number, protocol, names), externalName."""
    spec = _mapping(obj.get("spec"))
    errs: list[FieldError] = []
    kind = spec.get("type") or "ClusterIP"
    errs.extend(validate_enum(spec.get("type"), "spec.type", SERVICE_TYPES, defaulted=True))
    ports = _list(spec.get("ports"), "spec.ports", errs)
    headless = spec.get("clusterIP") == "None"
    if not ports and not headless and kind != "ExternalName":
        errs.append(required("spec.ports"))
    names: set[str] = set()
    for i, port in enumerate(ports):
        errs.extend(_validate_service_port(port, f"spec.ports[{i}]", len(ports) > 1, names))
    if kind == "ExternalName":
        external = spec.get("externalName")
        if not external:
            errs.append(required("spec.externalName"))
        else:
            errs.extend(invalid("spec.externalName", external, m) for m in is_dns1123_subdomain(str(external)))
    return errs


def _too_long(path: str, limit: int) -> FieldError:
    return FieldError(CauseType.TOO_LONG, path, detail=f"must have at most {limit} bytes")


def validate_config_map(obj: Mapping[str, Any]) -> list[FieldError]:
    """ValidateConfigMap: config keys in data and binaryData, no key in both, total <= 1 MiB."""
    errs: list[FieldError] = []
    data, binary = _mapping(obj.get("data")), _mapping(obj.get("binaryData"))
    total = 0
    for key, value in data.items():
        errs.extend(invalid(f"data[{key}]", key, m) for m in is_config_map_key(key))
        if key in binary:
            errs.append(invalid(f"data[{key}]", key, "duplicate of key present in binaryData"))
        total += len(str(value).encode())
    for key, value in binary.items():
        errs.extend(invalid(f"binaryData[{key}]", key, m) for m in is_config_map_key(key))
        total += _decoded_size(value, f"binaryData[{key}]", errs)
    if total > MAX_SECRET_SIZE:
        errs.append(_too_long("[]", MAX_SECRET_SIZE))  # kube reports the whole object as `[]`
    return errs


def _decoded_size(value: Any, path: str, errs: list[FieldError]) -> int:
    try:
        return len(base64.b64decode(str(value), validate=True))
    except (binascii.Error, ValueError):
        errs.append(invalid(path, "<value omitted>", "must be base64-encoded"))
        return 0


def validate_secret(obj: Mapping[str, Any]) -> list[FieldError]:
    """ValidateSecret (subset): config keys in data and stringData, decoded total <= 1 MiB."""
    errs: list[FieldError] = []
    total = 0
    for key, value in _mapping(obj.get("data")).items():
        errs.extend(invalid(f"data[{key}]", key, m) for m in is_config_map_key(key))
        total += _decoded_size(value, f"data[{key}]", errs)
    for key, value in _mapping(obj.get("stringData")).items():
        errs.extend(invalid(f"stringData[{key}]", key, m) for m in is_config_map_key(key))
        total += len(str(value).encode())
    if total > MAX_SECRET_SIZE:
        errs.append(_too_long("data", MAX_SECRET_SIZE))
    return errs


__all__ = [
    "POD_UPDATE_FORBIDDEN",
    "restart_policy",
    "validate_config_map",
    "validate_pod",
    "validate_pod_spec",
    "validate_pod_template_spec",
    "validate_pod_update",
    "validate_secret",
    "validate_service",
]
