"""Spec rules for workload kinds (pkg/apis/apps/validation, pkg/apis/batch/validation), a subset.

Deployment, ReplicaSet, DaemonSet, StatefulSet, Job and CronJob: a non-empty selector that
selects the pod template's labels, replicas >= 0, the template validated as a pod, the
restartPolicy each controller allows, and the update rules kube applies to apps/v1 and
batch/v1 (selectors and Job templates are immutable).

    >>> dep = {"spec": {"selector": {"matchLabels": {"app": "web"}},
    ...        "template": {"metadata": {"labels": {"app": "api"}},
    ...                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    >>> [e.detail for e in validate_deployment(dep)]
    ['`selector` does not match template `labels`']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apimachinery.errors import FieldError, forbidden, invalid, not_supported, required
from apimachinery.kinds.validation_core import restart_policy, validate_pod_template_spec
from apimachinery.validation import (
    selector_matches,
    validate_annotations,
    validate_enum,
    validate_immutable_field,
    validate_label_selector,
    validate_labels,
    validate_nonnegative,
)

SELECTOR_MISMATCH = "`selector` does not match template `labels`"
CRONJOB_NAME_MAX = 52  # 63 minus the 11-character suffix the CronJob controller appends


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _template_labels(spec: Mapping[str, Any]) -> Mapping[str, str]:
    return _mapping(_mapping(_mapping(spec.get("template")).get("metadata")).get("labels"))


def _validate_selector(spec: Mapping[str, Any], what: str) -> list[FieldError]:
    """spec.selector required, well formed, non-empty, and selecting the template's labels."""
    selector = spec.get("selector")
    if selector is None:
        return [required("spec.selector")]
    errs = validate_label_selector(selector, "spec.selector")
    if not isinstance(selector, Mapping):
        return errs
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        errs.append(invalid("spec.selector", dict(selector), f"empty selector is invalid for {what}"))
    elif not errs and not selector_matches(selector, _template_labels(spec)):
        errs.append(invalid("spec.template.metadata.labels", dict(_template_labels(spec)), SELECTOR_MISMATCH))
    return errs


def _restart_always(spec: Mapping[str, Any], what: str) -> list[FieldError]:
    errs: list[FieldError] = []
    policy = restart_policy(spec.get("template"))
    if policy != "Always":
        errs.append(not_supported("spec.template.spec.restartPolicy", policy, ["Always"]))
    if _mapping(_mapping(spec.get("template")).get("spec")).get("activeDeadlineSeconds") is not None:
        detail = f"activeDeadlineSeconds in {what} is not Supported"
        errs.append(forbidden("spec.template.spec.activeDeadlineSeconds", detail))
    return errs


def _validate_replicated(obj: Mapping[str, Any], what: str, kind: str) -> list[FieldError]:
    spec = _mapping(obj.get("spec"))
    errs = validate_nonnegative(spec.get("replicas"), "spec.replicas")
    errs.extend(validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    errs.extend(_validate_selector(spec, what))
    errs.extend(validate_pod_template_spec(spec.get("template"), "spec.template"))
    errs.extend(_restart_always(spec, kind))
    return errs


def validate_deployment(obj: Mapping[str, Any]) -> list[FieldError]:
    """ValidateDeploymentSpec (subset), plus revisionHistoryLimit >= 0 and the strategy type."""
    errs = _validate_replicated(obj, "deployment", "ReplicaSet")
    spec = _mapping(obj.get("spec"))
    errs.extend(validate_nonnegative(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit"))
    strategy = _mapping(spec.get("strategy")).get("type")
    if strategy:
        errs.extend(validate_enum(strategy, "spec.strategy", ("Recreate", "RollingUpdate")))
    return errs


def validate_replica_set(obj: Mapping[str, Any]) -> list[FieldError]:
    """ValidateReplicaSetSpec (kube words its empty-selector error as for a deployment)."""
    return _validate_replicated(obj, "deployment", "ReplicaSet")


def validate_daemon_set(obj: Mapping[str, Any]) -> list[FieldError]:
    """ValidateDaemonSetSpec (subset): as a ReplicaSet, without replicas."""
    spec = _mapping(obj.get("spec"))
    errs = _validate_selector(spec, "daemonset")
    errs.extend(validate_pod_template_spec(spec.get("template"), "spec.template"))
    errs.extend(_restart_always(spec, "DaemonSet"))
    errs.extend(validate_nonnegative(spec.get("minReadySeconds"), "spec.minReadySeconds"))
    return errs


def validate_stateful_set(obj: Mapping[str, Any]) -> list[FieldError]:
    """ValidateStatefulSetSpec (subset).

    As kube does, only the template's labels and annotations are checked, not its pod spec
    (volumes may come from volumeClaimTemplates). spec.serviceName is optional.
    """
    spec = _mapping(obj.get("spec"))
    errs = validate_nonnegative(spec.get("replicas"), "spec.replicas")
    errs.extend(_validate_selector(spec, "statefulset"))
    template_meta = _mapping(_mapping(spec.get("template")).get("metadata"))
    errs.extend(validate_labels(template_meta.get("labels"), "spec.template.labels"))
    errs.extend(validate_annotations(template_meta.get("annotations"), "spec.template.annotations"))
    policy = spec.get("podManagementPolicy")
    if policy and policy not in ("OrderedReady", "Parallel"):
        errs.append(invalid("spec.podManagementPolicy", policy, "must be 'OrderedReady' or 'Parallel'"))
    errs.extend(_restart_always(spec, "StatefulSet"))
    return errs


def _validate_job_spec(spec: Mapping[str, Any], path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    for key in ("parallelism", "completions", "activeDeadlineSeconds", "backoffLimit"):
        errs.extend(validate_nonnegative(spec.get(key), f"{path}.{key}"))
    if spec.get("template") is None:
        return [*errs, required(f"{path}.template")]
    errs.extend(validate_pod_template_spec(spec.get("template"), f"{path}.template"))
    policy = restart_policy(spec.get("template"))
    if policy not in ("OnFailure", "Never"):
        errs.append(not_supported(f"{path}.template.spec.restartPolicy", policy, ["OnFailure", "Never"]))
    return errs


def validate_job(obj: Mapping[str, Any]) -> list[FieldError]:
    """ValidateJob (subset). A missing selector is not an error here: kube's Job strategy generates
    one before validation; a given selector must select the template's labels."""
    spec = _mapping(obj.get("spec"))
    errs = _validate_job_spec(spec, "spec")
    selector = spec.get("selector")
    if selector is not None:
        errs.extend(validate_label_selector(selector, "spec.selector"))
        if isinstance(selector, Mapping) and not selector_matches(selector, _template_labels(spec)):
            errs.append(invalid("spec.template.metadata.labels", dict(_template_labels(spec)), SELECTOR_MISMATCH))
    return errs


def validate_cron_job(obj: Mapping[str, Any]) -> list[FieldError]:
    """ValidateCronJobCreate (subset): name <= 52, schedule and jobTemplate required.

    The schedule's cron syntax is not parsed here.
    """
    spec = _mapping(obj.get("spec"))
    errs: list[FieldError] = []
    name = _mapping(obj.get("metadata")).get("name")
    if isinstance(name, str) and len(name) > CRONJOB_NAME_MAX:
        errs.append(invalid("metadata.name", name, f"must be no more than {CRONJOB_NAME_MAX} characters"))
    if not spec.get("schedule"):
        errs.append(required("spec.schedule"))
    for key in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        errs.extend(validate_nonnegative(spec.get(key), f"spec.{key}"))
    policy = spec.get("concurrencyPolicy")
    if policy:
        errs.extend(validate_enum(policy, "spec.concurrencyPolicy", ("Allow", "Forbid", "Replace")))
    job_template = spec.get("jobTemplate")
    if not isinstance(job_template, Mapping):
        return [*errs, required("spec.jobTemplate")]
    job_spec = _mapping(job_template.get("spec"))
    errs.extend(_validate_job_spec(job_spec, "spec.jobTemplate.spec"))
    if job_spec.get("selector") is not None:
        errs.append(
            invalid("spec.jobTemplate.spec.selector", job_spec["selector"], "`selector` will be auto-generated")
        )
    return errs


def validate_selector_immutable(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    """apps/v1 strategies: spec.selector may not change (extensions/v1beta1 allowed it)."""
    new_sel, old_sel = _mapping(new.get("spec")).get("selector"), _mapping(old.get("spec")).get("selector")
    return validate_immutable_field(new_sel, old_sel, "spec.selector")


def validate_stateful_set_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    """Only replicas, ordinals, template, updateStrategy, persistentVolumeClaimRetentionPolicy and
    minReadySeconds of a StatefulSet spec may change."""
    mutable = {"replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy"}
    mutable.add("minReadySeconds")
    spec, old_spec = _mapping(new.get("spec")), _mapping(old.get("spec"))
    if {k: v for k, v in spec.items() if k not in mutable} != {k: v for k, v in old_spec.items() if k not in mutable}:
        detail = (
            "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
            "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
        )
        return [forbidden("spec", detail)]
    return []


def validate_job_update(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[FieldError]:
    """ValidateJobSpecUpdate (subset): spec.selector and spec.template are immutable.

    Newer kube lets a suspended Job change its template's scheduling directives; not modelled.
    """
    spec, old_spec = _mapping(new.get("spec")), _mapping(old.get("spec"))
    errs = validate_immutable_field(spec.get("selector"), old_spec.get("selector"), "spec.selector")
    errs.extend(validate_immutable_field(spec.get("template"), old_spec.get("template"), "spec.template"))
    return errs


__all__ = [
    "SELECTOR_MISMATCH",
    "validate_cron_job",
    "validate_daemon_set",
    "validate_deployment",
    "validate_job",
    "validate_job_update",
    "validate_replica_set",
    "validate_selector_immutable",
    "validate_stateful_set",
    "validate_stateful_set_update",
]
