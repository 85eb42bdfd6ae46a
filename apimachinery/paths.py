"""REST paths of resources: `/api/v1/namespaces/default/pods/web-0` and `/apis/apps/v1/...`.

The core group lives under `/api/<version>`, every other group under
`/apis/<group>/<version>`; namespaced resources add `namespaces/<ns>/`; a name and a
subresource (`status`, `scale`) may follow.

    >>> resource_path(GroupVersionResource("apps", "v1", "deployments"), "default", "web", "scale")
    '/apis/apps/v1/namespaces/default/deployments/web/scale'
"""

from __future__ import annotations

from typing import NamedTuple

from apimachinery.errors import NotFoundError
from apimachinery.schema import GroupVersionResource, RESTMapper


class RequestPath(NamedTuple):
    gvr: GroupVersionResource
    namespace: str = ""
    name: str = ""
    subresource: str = ""


def resource_path(gvr: GroupVersionResource, namespace: str = "", name: str = "", subresource: str = "") -> str:
    root = f"/apis/{gvr.group}/{gvr.version}" if gvr.group else f"/api/{gvr.version}"
    parts = [root]
    if namespace:
        parts.append(f"namespaces/{namespace}")
    parts.append(gvr.resource)
    if name:
        parts.append(name)
        if subresource:
            parts.append(subresource)
    return "/".join(parts)


def parse_path(path: str, mapper: RESTMapper) -> RequestPath:
    """The resource, namespace, name and subresource a path addresses; NotFound if none."""
    segments = [s for s in path.split("?", 1)[0].split("/") if s]

    def not_found() -> NotFoundError:
        return NotFoundError(f"the server could not find the requested resource (path {path!r})")

    if len(segments) >= 2 and segments[0] == "api":
        group, version, rest = "", segments[1], segments[2:]
    elif len(segments) >= 3 and segments[0] == "apis":
        group, version, rest = segments[1], segments[2], segments[3:]
    else:
        raise not_found()
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    elif len(rest) == 2 and rest[0] == "namespaces" and not group:
        rest = ["namespaces", rest[1]]  # the namespace object itself
    if not rest or len(rest) > 3:
        raise not_found()
    gvr = GroupVersionResource(group, version, rest[0])
    info = mapper.info(gvr)
    if namespace and not info.namespaced:
        raise not_found()
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    if subresource and subresource not in info.subresources:
        raise not_found()
    return RequestPath(gvr, namespace, name, subresource)
