"""The watch cache: one store watch per served resource feeding decoded objects and recent
events to every list and watch of it (kube-apiserver's cacher). See cacher.py."""

from kvstore.registry.cache.cacher import CacheConfig, Cacher

__all__ = ["CacheConfig", "Cacher"]
