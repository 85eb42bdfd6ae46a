"""The `scale` subresource of deployments, replicasets and statefulsets (autoscaling/v1 Scale)."""

from __future__ import annotations

from typing import Any

from apimachinery.schema import ResourceInfo
from kvstore.registry.strategies.objects import bump_generation, copy_object


def scale_of(info: ResourceInfo, obj: dict[str, Any]) -> dict[str, Any]:
    """The autoscaling/v1 Scale view of a deployment, replicaset or statefulset."""
    md = obj.get("metadata", {})
    selector = obj.get("spec", {}).get("selector") or {}
    labels = selector.get("matchLabels", {}) if isinstance(selector, dict) else {}
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in md},
        "spec": {"replicas": int(obj.get("spec", {}).get("replicas", 1))},
        "status": {
            "replicas": int(obj.get("status", {}).get("replicas", 0)),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


def apply_scale(obj: dict[str, Any], replicas: int) -> dict[str, Any]:
    """The object with `spec.replicas` set; a change of it is a spec change (generation + 1)."""
    out = copy_object(obj)
    out.setdefault("spec", {})["replicas"] = replicas
    bump_generation(out, obj, changed=replicas != obj.get("spec", {}).get("replicas", 1))
    return out
