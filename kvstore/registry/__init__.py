"""The resource layer: group/version/resource objects with kube-apiserver's resourceVersion rules."""

from kvstore.registry.registry import Registry
from kvstore.registry.watch import RawEvent, ResourceWatch

__all__ = ["RawEvent", "Registry", "ResourceWatch"]
