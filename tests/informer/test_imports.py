"""`import informer` loads nothing of the store: informers reach a server only through the
apimachinery contracts (client-go's tools/cache depends on apimachinery, never on etcd)."""

from __future__ import annotations

from tests.layers import loaded_by

STORE_SIDE = {"kvstore", "kvs", "h2grpc", "controllers", "lmdb", "grpc", "msgpack", "google"}


def test_importing_informer_loads_no_store_module() -> None:
    loaded = loaded_by("import informer")
    assert "informer" in loaded and "apimachinery" in loaded
    assert loaded & STORE_SIDE == set()


def test_a_resource_lister_watcher_needs_no_store_either() -> None:
    loaded = loaded_by(
        "from informer import ResourceListerWatcher, SharedInformerFactory, LeaseLock, RateLimitingQueue"
    )
    assert loaded & STORE_SIDE == set()
