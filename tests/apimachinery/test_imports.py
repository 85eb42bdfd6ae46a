"""apimachinery is the pure object model: importing every module of it loads no I/O, no
event loop and nothing of the layers above (k8s.io/apimachinery has no storage or transport)."""

from __future__ import annotations

from tests.layers import loaded_by

FORBIDDEN = {
    "kvstore", "kvs", "h2grpc", "informer", "controllers",  # the project above it
    "lmdb", "grpc", "msgpack", "google",  # storage and transport libraries
    "asyncio", "socket", "selectors", "subprocess", "threading",  # I/O and concurrency
}  # fmt: skip


def test_every_apimachinery_module_imports_without_io() -> None:
    loaded = loaded_by(
        "import importlib, pkgutil, apimachinery\n"
        "for m in pkgutil.walk_packages(apimachinery.__path__, 'apimachinery.'): importlib.import_module(m.name)"
    )
    assert {"apimachinery"} <= loaded
    assert loaded & FORBIDDEN == set()
