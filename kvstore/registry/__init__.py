"""The resource layer: group/version/resource objects with kube-apiserver's resourceVersion rules."""

from kvstore.registry.api import ResourceClient, ResourceEventStream
from kvstore.registry.registry import Registry
from kvstore.registry.watch import RawEvent, ResourceWatch, watch

__all__ = ["RawEvent", "Registry", "ResourceClient", "ResourceEventStream", "ResourceWatch", "watch"]
