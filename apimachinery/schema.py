"""Group/version/kind and group/version/resource, and the REST mapper between them.

A *kind* names a type of object (`Deployment`); a *resource* names the collection that
serves it on the API (`deployments`). The mapper knows every served resource: its kind,
singular and short names, whether it lives in a namespace, and its subresources, and
resolves what a user types (`deploy`, `deployments.apps`, `Deployment`) to one resource,
as kubectl and kube-apiserver's discovery do.

    >>> m = RESTMapper.with_builtins()
    >>> m.resource_for("deploy").gvr
    GroupVersionResource(group='apps', version='v1', resource='deployments')
    >>> m.kind_for(GroupVersionResource("", "v1", "pods"))
    GroupVersionKind(group='', version='v1', kind='Pod')
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from apimachinery.errors import NotFoundError


class GroupKind(NamedTuple):
    group: str
    kind: str

    def __str__(self) -> str:
        return f"{self.kind}.{self.group}" if self.group else self.kind


class GroupResource(NamedTuple):
    group: str
    resource: str

    def __str__(self) -> str:
        return f"{self.resource}.{self.group}" if self.group else self.resource


class GroupVersionKind(NamedTuple):
    group: str
    version: str
    kind: str

    @property
    def api_version(self) -> str:
        """`apps/v1`, or `v1` for the core group: the object's `apiVersion`."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def group_kind(self) -> GroupKind:
        return GroupKind(self.group, self.kind)

    @classmethod
    def from_api_version(cls, api_version: str, kind: str) -> GroupVersionKind:
        group, _, version = api_version.rpartition("/")
        return cls(group, version, kind)


class GroupVersionResource(NamedTuple):
    group: str
    version: str
    resource: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def group_resource(self) -> GroupResource:
        return GroupResource(self.group, self.resource)

    def __str__(self) -> str:
        return f"{self.resource}.{self.version}.{self.group}" if self.group else f"{self.resource}.{self.version}"


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """One served resource, as discovery (metav1.APIResource) describes it."""

    gvr: GroupVersionResource
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()  # "status", "scale"
    categories: tuple[str, ...] = ()

    @property
    def gvk(self) -> GroupVersionKind:
        return GroupVersionKind(self.gvr.group, self.gvr.version, self.kind)

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def has_scale(self) -> bool:
        return "scale" in self.subresources

    def names(self) -> Iterator[str]:
        """Every name a user may type for this resource (lower case)."""
        yield self.gvr.resource
        yield self.singular or self.kind.lower()
        yield self.kind.lower()
        yield from self.short_names


class RESTMapper:
    """Kinds to resources and back; resources can be added and removed (CRDs) at run time."""

    def __init__(self, resources: Iterable[ResourceInfo] = ()) -> None:
        self._by_gvr: dict[GroupVersionResource, ResourceInfo] = {}
        self._by_gvk: dict[GroupVersionKind, ResourceInfo] = {}
        for info in resources:
            self.add(info)

    @classmethod
    def with_builtins(cls) -> RESTMapper:
        from apimachinery.kinds.builtin import BUILTIN_RESOURCES

        return cls(BUILTIN_RESOURCES)

    def add(self, info: ResourceInfo) -> None:
        self._by_gvr[info.gvr] = info
        self._by_gvk[info.gvk] = info

    def remove(self, gvr: GroupVersionResource) -> None:
        info = self._by_gvr.pop(gvr, None)
        if info is not None:
            self._by_gvk.pop(info.gvk, None)

    def __contains__(self, gvr: object) -> bool:
        return gvr in self._by_gvr

    def __iter__(self) -> Iterator[ResourceInfo]:
        return iter(list(self._by_gvr.values()))

    def info(self, gvr: GroupVersionResource) -> ResourceInfo:
        """The served resource `gvr`; NotFound (404) when nothing serves it."""
        info = self._by_gvr.get(gvr)
        if info is None:
            raise NotFoundError(
                f"the server could not find the requested resource ({gvr.resource}.{gvr.group or 'core'})"
            )
        return info

    def kind_for(self, gvr: GroupVersionResource) -> GroupVersionKind:
        return self.info(gvr).gvk

    def resource_for_kind(self, gvk: GroupVersionKind) -> ResourceInfo:
        info = self._by_gvk.get(gvk)
        if info is None:
            raise NotFoundError(f'no matches for kind "{gvk.kind}" in version "{gvk.api_version}"')
        return info

    def resource_for(self, name: str) -> ResourceInfo:
        """Resolve `pods`, `pod`, `po`, `Pod`, `deployments.apps` or `deployments.v1.apps` as kubectl does.

        A bare name matching several groups prefers the core group, then the others in
        their order of registration (built-ins before custom resources).
        """
        wanted = name.strip().lower()
        base, _, qualifier = wanted.partition(".")
        version = group = None
        if qualifier:
            first, _, rest = qualifier.partition(".")
            if rest and first.startswith("v") and first[1:2].isdigit():
                version, group = first, rest
            else:
                group = qualifier
        matches = [
            info
            for info in self._by_gvr.values()
            if base in info.names()
            and (group is None or info.gvr.group == group or (group == "core" and not info.gvr.group))
            and (version is None or info.gvr.version == version)
        ]
        if not matches:
            raise NotFoundError(f'the server doesn\'t have a resource type "{name}"')
        matches.sort(key=lambda i: i.gvr.group != "")
        return matches[0]
