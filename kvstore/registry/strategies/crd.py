"""The strategy of CustomResourceDefinitions: defaults, name conflicts, established status,
and serving (or no longer serving) the resource once the CRD is written.

Deleting a CRD deletes every object it served in the same transaction (kvstore.registry.crd
says why: no cleanup finalizer here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apimachinery import meta
from apimachinery.errors import FieldError
from apimachinery.schema import GroupVersionResource
from kvstore.messages import DeleteRangeRequest, RequestOp, prefix_range_end
from kvstore.registry import keys
from kvstore.registry.crd import CustomResources, established_status, with_defaults
from kvstore.registry.strategies.default import DefaultStrategy
from kvstore.registry.strategies.objects import now_rfc3339


@dataclass(frozen=True, slots=True)
class CustomResourceDefinitionStrategy(DefaultStrategy):
    """apiextensions' rules for a CRD, over the registry's served `crds`."""

    crds: CustomResources

    # kube defaults a CRD before validating it, on create and on every update.
    def prepare_for_create(self, obj: dict[str, Any], namespace: str) -> dict[str, Any]:
        return with_defaults(DefaultStrategy.prepare_for_create(self, obj, namespace))

    def prepare_for_update(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        return with_defaults(DefaultStrategy.prepare_for_update(self, new, old))

    def prepare_for_status_update(self, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
        return with_defaults(DefaultStrategy.prepare_for_status_update(self, new, old))

    def validate(self, obj: dict[str, Any]) -> list[FieldError]:
        """The CRD's rules, then names already served by a built-in resource or another CRD."""
        return DefaultStrategy.validate(self, obj) + self.crds.conflicts(obj)

    def validate_update(self, new: dict[str, Any], old: dict[str, Any]) -> list[FieldError]:
        return DefaultStrategy.validate_update(self, new, old) + self.crds.conflicts(new)

    def canonicalize(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A valid CRD is accepted at once: NamesAccepted and Established."""
        obj["status"] = established_status(obj, now_rfc3339())
        return obj

    def delete_ops(self, key: bytes, obj: dict[str, Any]) -> list[RequestOp]:
        """The CRD's key and every object of the resource it served."""
        ops = DefaultStrategy.delete_ops(self, key, obj)
        spec = obj.get("spec", {})
        served = GroupVersionResource(spec.get("group", ""), "", spec.get("names", {}).get("plural", ""))
        if served.group and served.resource:
            prefix = keys.collection_prefix(served)
            ops.append(DeleteRangeRequest(prefix, prefix_range_end(prefix)))
        return ops

    def after_create(self, obj: dict[str, Any]) -> None:
        self.crds.register(obj)

    def after_update(self, obj: dict[str, Any]) -> None:
        self.crds.register(obj)

    def after_delete(self, obj: dict[str, Any]) -> None:
        self.crds.unregister(meta.name(obj))
