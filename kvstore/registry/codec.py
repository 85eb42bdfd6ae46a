"""Objects to stored bytes and back.

Objects are stored as compact JSON without `metadata.resourceVersion`: the version is the
key's mod_revision, filled in on every read, as kube-apiserver does with etcd.

The top-level keys are written `apiVersion`, `kind`, `metadata` first. Since a JSON
string cannot hold an unescaped `"` after `metadata`, the first `"metadata":{` in the
bytes is then the object's own metadata, and `with_resource_version` can produce the
bytes a client receives without decoding the object (the watch fan-out path):

    >>> with_resource_version(b'{"kind":"Pod","metadata":{"name":"a"}}', 7)
    b'{"kind":"Pod","metadata":{"resourceVersion":"7","name":"a"}}'
"""

from __future__ import annotations

import json
from typing import Any

from apimachinery.errors import InternalError

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_FIRST = ("apiVersion", "kind", "metadata")
_METADATA = b'"metadata":{'


def encode(obj: dict[str, Any]) -> bytes:
    """The stored form: compact JSON, `apiVersion`/`kind`/`metadata` first, no resourceVersion."""
    ordered: dict[str, Any] = {k: obj[k] for k in _FIRST if k in obj}
    meta = ordered.get("metadata")
    if isinstance(meta, dict) and "resourceVersion" in meta:
        ordered["metadata"] = {k: v for k, v in meta.items() if k != "resourceVersion"}
    for k, v in obj.items():
        if k not in ordered:
            ordered[k] = v
    return _encoder.encode(ordered).encode()


def decode(value: bytes, mod_revision: int, api_version: str = "") -> dict[str, Any]:
    """The object a client receives; `api_version` relabels it when read through another
    served version of a custom resource (kube's conversion strategy "None")."""
    try:
        obj = json.loads(value)
    except ValueError as exc:
        raise InternalError(f"stored object does not decode: {exc}") from exc
    if not isinstance(obj, dict):
        raise InternalError("stored object is not a JSON object")
    obj.setdefault("metadata", {})["resourceVersion"] = str(mod_revision)
    if api_version and obj.get("apiVersion") != api_version:
        obj["apiVersion"] = api_version
    return obj


def to_json(obj: dict[str, Any]) -> bytes:
    """An object as the compact JSON a client receives."""
    return _encoder.encode(obj).encode()


def with_resource_version(value: bytes, mod_revision: int, api_version: str = "") -> bytes:
    """The JSON a client receives for a stored value, without decoding it (module docstring)."""
    at = value.find(_METADATA)
    if (
        at < 0
        or value.find(b"{", 1) != at + len(_METADATA) - 1
        or (api_version and not value.startswith(b'{"apiVersion":"%s"' % api_version.encode()))
    ):
        # Not laid out by encode(), a brace inside apiVersion/kind, or another version: decode.
        return to_json(decode(value, mod_revision, api_version))
    at += len(_METADATA)
    rv = b'"resourceVersion":"%d"' % mod_revision
    return value[:at] + rv + (b"" if value[at : at + 1] == b"}" else b",") + value[at:]
