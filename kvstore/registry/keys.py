"""Where objects live in the key space, and list continue tokens.

    /registry/core/pods/default/web-0          a namespaced object of the core group
    /registry/apps/deployments/default/web     a namespaced object of a named group
    /registry/core/nodes/node-1                a cluster-scoped object

A collection is a key prefix (`/registry/core/pods/` for all namespaces,
`/registry/core/pods/default/` for one), so a list is one range read and a watch one
prefix watch. A continue token records the list's revision and the next key, as
kube-apiserver's does, so every page reads the same snapshot.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import NamedTuple

from apimachinery.errors import BadRequestError
from apimachinery.schema import GroupVersionResource

ROOT = b"/registry/"


def collection_prefix(gvr: GroupVersionResource, namespace: str = "") -> bytes:
    group = gvr.group or "core"
    prefix = f"{group}/{gvr.resource}/"
    if namespace:
        prefix += f"{namespace}/"
    return ROOT + prefix.encode()


def object_key(gvr: GroupVersionResource, namespace: str, name: str) -> bytes:
    return collection_prefix(gvr, namespace) + name.encode()


class Continue(NamedTuple):
    revision: int
    start: bytes  # the first key of the next page


def encode_continue(revision: int, start: bytes) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start.decode("utf-8", "surrogateescape")})
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_continue(token: str, prefix: bytes) -> Continue:
    """The snapshot and key a token continues from; BadRequest if it is not ours or not for this list."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        revision = int(data["rv"])
        start = str(data["start"]).encode("utf-8", "surrogateescape")
        if data.get("v") != "meta.k8s.io/v1" or revision < 1:
            raise ValueError("unknown version")
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError) as exc:
        raise BadRequestError(f"continue key is not valid: {exc}") from None
    if not start.startswith(prefix):
        raise BadRequestError("continue key is not valid: it does not belong to this list")
    return Continue(revision, start)
