"""Objects to stored bytes and back.

Objects are stored as compact JSON without `metadata.resourceVersion`: the version is the
key's mod_revision, filled in on every read, as kube-apiserver does with etcd.
"""

from __future__ import annotations

import json
from typing import Any

from apimachinery.errors import InternalError

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode(obj: dict[str, Any]) -> bytes:
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    return _encoder.encode(obj).encode()


def decode(value: bytes, mod_revision: int) -> dict[str, Any]:
    try:
        obj = json.loads(value)
    except ValueError as exc:
        raise InternalError(f"stored object does not decode: {exc}") from exc
    if not isinstance(obj, dict):
        raise InternalError("stored object is not a JSON object")
    obj.setdefault("metadata", {})["resourceVersion"] = str(mod_revision)
    return obj
