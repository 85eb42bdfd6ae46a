"""The resource registry: kube-apiserver's storage rules over the key-value store.

Objects of every served group/version/resource live under `/registry/...` (keys.py).
`metadata.resourceVersion` is the key's mod_revision as a string; a list's is the
store revision it read at. Every write is one store transaction whose compares carry
the optimistic-concurrency check, so a failed request writes nothing:

- create: the key must not exist and (namespaced kinds) the namespace must exist and
  not be terminating, checked in the same transaction;
- update: the stored mod_revision must equal the request's resourceVersion (409
  Conflict otherwise); without one, the update applies to whatever is stored;
- delete: with finalizers the object only gets `deletionTimestamp` and stays until its
  last finalizer is removed by an update; Orphan and Foreground propagation add the
  `orphan` and `foregroundDeletion` finalizers for the garbage collector.

Update, patch and delete share one read-compare-write loop (storage.guaranteed_update);
what is particular to a resource (CRDs, custom resources) is its strategy's
(kvstore.registry.strategies), chosen by `strategy_for`: the registry decides with it,
then does the I/O.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from apimachinery import errors, meta
from apimachinery.errors import (
    OPTIMISTIC_LOCK_MESSAGE,
    AlreadyExistsError,
    BadRequestError,
    ConflictError,
    ExpiredError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    StatusDetails,
)
from apimachinery.kinds.builtin import INITIAL_NAMESPACES
from apimachinery.patch import PatchType, apply_patch
from apimachinery.schema import GroupVersionResource, ResourceInfo, RESTMapper
from apimachinery.watch import ADDED
from apimachinery.watch import Event as WatchEvent
from kvstore.api import KV, Watch
from kvstore.errors import CompactedError, FutureRevisionError
from kvstore.messages import (
    KeyValue,
    PutRequest,
    RangeRequest,
    compare_create_revision,
    prefix_range_end,
)
from kvstore.registry import codec, keys
from kvstore.registry.cache import CacheConfig, Cacher
from kvstore.registry.cache.cache_watcher import CacheWatcher
from kvstore.registry.crd import CRDS, CustomResources
from kvstore.registry.deletion import (
    check_options,
    check_preconditions,
    mark_deleted,
)
from kvstore.registry.selection import Selection
from kvstore.registry.storage import Outcome, Remove, Updated, guaranteed_update, txn
from kvstore.registry.strategies import (
    CustomResourceDefinitionStrategy,
    CustomResourceStrategy,
    DefaultStrategy,
    Strategy,
)
from kvstore.registry.strategies.scale import apply_scale, scale_of
from kvstore.registry.versions import parse_resource_version, too_large, too_old
from kvstore.registry.watch import DEFAULT_BOOKMARK_INTERVAL, ResourceWatch, bookmark, starts_with_current_state

NAMESPACES = GroupVersionResource("", "v1", "namespaces")
_GENERATE_NAME_TRIES = 8


class Registry:
    """Create, read, update, delete and list objects of any served resource."""

    def __init__(
        self,
        kv: KV,
        mapper: RESTMapper | None = None,
        *,
        bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL,
        watch_cache: bool = True,
        cache_config: CacheConfig | None = None,
    ) -> None:
        self.kv = kv
        self.watch_cache = watch_cache
        """Serve lists and watches from a cache per resource (kube-apiserver's `--watch-cache`)."""
        self.cache_config = cache_config or CacheConfig()
        self._cachers: dict[GroupVersionResource, Cacher] = {}
        self.mapper = mapper or RESTMapper.with_builtins()
        self.crds = CustomResources(self.mapper)
        self._strategies: dict[GroupVersionResource, Callable[[ResourceInfo], Strategy]] = {
            CRDS: lambda info: CustomResourceDefinitionStrategy(info, self.crds)
        }
        """Resources with a strategy of their own (custom resources get theirs from their CRD)."""
        self.bookmark_interval = bookmark_interval
        """Seconds between two BOOKMARKs of a watch that allows them."""

    async def bootstrap(self) -> None:
        """Create the namespaces a fresh cluster has (`default`, `kube-system`, ...) if missing,
        and serve the custom resources of the stored CRDs."""
        for name in INITIAL_NAMESPACES:
            with contextlib.suppress(AlreadyExistsError):
                await self.create(NAMESPACES, {"metadata": {"name": name}})
        await self.load_crds()

    async def load_crds(self) -> None:
        """Serve what every stored CRD declares (CRDs written through another registry)."""
        prefix = keys.collection_prefix(CRDS)
        resp = await self.kv.range(prefix, prefix_range_end(prefix))
        for kv in resp.kvs:
            self.crds.register(codec.decode(kv.value, kv.mod_revision))

    async def resolve(self, gvr: GroupVersionResource) -> ResourceInfo:
        """The served resource `gvr`, looking for CRDs stored meanwhile; 404 when none serves it."""
        if gvr not in self.mapper:
            await self.load_crds()
        return self.mapper.info(gvr)

    def close(self) -> None:
        """Stop the watch caches (their watchers end); the registry builds them again on use."""
        for cacher in self._cachers.values():
            cacher.stop()
        self._cachers.clear()

    async def cacher(self, info: ResourceInfo) -> Cacher | None:
        """The started watch cache of `info` (None with the cache off)."""
        if not self.watch_cache:
            return None
        c = self._cachers.get(info.gvr)
        if c is not None and (c.stopped or c.info.kind != info.kind or c.info.namespaced != info.namespaced):
            c.stop()
            c = None
        if c is None:
            c = self._cachers[info.gvr] = Cacher(self.kv, info, self.cache_config)
        await c.start()
        return c

    def check_mutations(self) -> None:
        """Raise CacheMutationError if a reader changed an object shared by a watch cache."""
        for cacher in list(self._cachers.values()):
            cacher.check_mutations()

    # ------------------------------------------------------------ helpers

    def _scope(self, info: ResourceInfo, namespace: str) -> str:
        if info.namespaced and not namespace:
            raise BadRequestError(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        return namespace if info.namespaced else ""

    def _not_found(self, info: ResourceInfo, name: str) -> NotFoundError:
        return NotFoundError.for_resource(info.gvr.resource, info.gvr.group, name)

    def strategy_for(self, info: ResourceInfo) -> Strategy:
        """The strategy of the served resource `info`: a custom resource's (its CRD's schema),
        one registered for the resource (CRDs), or the default of built-in kinds."""
        custom = self.crds.get(info.gvr)
        if custom is not None:
            return CustomResourceStrategy(info, custom.schema)
        special = self._strategies.get(info.gvr)
        return DefaultStrategy(info) if special is None else special(info)

    def _admit(self, strategy: Strategy, obj: dict[str, Any], old: dict[str, Any] | None = None) -> dict[str, Any]:
        """Validate what is about to be stored, then canonicalize it; Invalid lists every error."""
        errs = strategy.validate(obj) if old is None else strategy.validate_update(obj, old)
        if errs:
            info = strategy.info
            raise InvalidError.for_object(info.kind, info.gvr.group, meta.name(obj), errs)
        return strategy.canonicalize(obj)

    def _decode(self, info: ResourceInfo, kv: KeyValue) -> dict[str, Any]:
        return codec.decode(kv.value, kv.mod_revision, info.gvr.api_version)

    async def _compacted(self, revision: int) -> bool:
        """Whether the store compacted history before `revision` (a watch from it would fail)."""
        try:
            await self.kv.range(b"\0", limit=1, count_only=True, revision=revision)
        except CompactedError:
            return True
        except FutureRevisionError:
            return False
        return False

    async def _read(self, key: bytes) -> KeyValue | None:
        resp = await self.kv.range(key)
        return resp.kvs[0] if resp.kvs else None

    async def _namespace(self, ns: str) -> tuple[bytes, int, Mapping[str, Any]] | None:
        """Namespace `ns` as (key, create revision, object), or None when there is none.

        Read from the namespaces' watch cache when it holds it, as kube-apiserver's
        NamespaceLifecycle admission reads an informer, else from the store (a namespace the
        cache has not seen yet). The create's compare on the create revision still refuses a
        namespace deleted or re-created since."""
        key = keys.object_key(NAMESPACES, "", ns)
        if (cacher := await self.cacher(self.mapper.info(NAMESPACES))) is not None:
            entry = cacher.get(key)
            if entry is not None:
                return key, entry.create_revision, entry.obj()
        kv = await self._read(key)
        if kv is None:
            return None
        return kv.key, kv.create_revision, codec.decode(kv.value, kv.mod_revision)

    # ------------------------------------------------------------ create

    async def create(self, gvr: GroupVersionResource, obj: Mapping[str, Any], namespace: str = "") -> dict[str, Any]:
        """Store a new object; its namespace comes from the request (or the object's metadata)."""
        info = await self.resolve(gvr)
        _check_body(obj)
        body_ns = str(obj.get("metadata", {}).get("namespace", "") or "")
        if info.namespaced and namespace and body_ns and body_ns != namespace:
            raise BadRequestError(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        ns = self._scope(info, namespace or body_ns)
        _check_kind(info, obj)
        strategy = self.strategy_for(info)
        for _ in range(_GENERATE_NAME_TRIES):
            stored = self._admit(strategy, strategy.prepare_for_create(dict(obj), ns))
            try:
                return await self._create_once(strategy, stored, ns)
            except AlreadyExistsError:
                if obj.get("metadata", {}).get("name") or not obj.get("metadata", {}).get("generateName"):
                    raise
        raise errors.ServerTimeoutError("could not find a free generated name; try again")

    async def _create_once(self, strategy: Strategy, stored: dict[str, Any], ns: str) -> dict[str, Any]:
        info = strategy.info
        name = meta.name(stored)
        key = keys.object_key(info.gvr, ns, name)
        compares = [compare_create_revision(key, "=", 0)]
        if info.namespaced:
            found = await self._namespace(ns)
            if found is None:
                raise NotFoundError.for_resource("namespaces", "", ns)
            ns_key, ns_created, ns_obj = found
            if ns_obj.get("metadata", {}).get("deletionTimestamp") or ns_obj.get("status", {}).get("phase") == (
                "Terminating"
            ):
                raise ForbiddenError(
                    f'{info.gvr.resource} "{name}" is forbidden: unable to create new content in namespace '
                    f"{ns} because it is being terminated",
                    StatusDetails(name, info.gvr.group, info.gvr.resource),
                )
            # The namespace must still be this one (not deleted, not re-created); updates to it
            # (status, labels) must not fail the create.
            compares.append(compare_create_revision(ns_key, "=", ns_created))
        resp = await txn(self.kv, compares, [PutRequest(key, codec.encode(stored))], [RangeRequest(key)])
        if not resp.succeeded:
            existing = resp.responses[0]
            if getattr(existing, "kvs", None):
                raise AlreadyExistsError.for_resource(info.gvr.resource, info.gvr.group, name)
            raise NotFoundError.for_resource("namespaces", "", ns)  # deleted meanwhile
        stored["metadata"]["resourceVersion"] = str(resp.header.revision)
        strategy.after_create(stored)
        return stored

    # ------------------------------------------------------------ get and list

    async def get(
        self, gvr: GroupVersionResource, name: str, namespace: str = "", *, resource_version: str = ""
    ) -> dict[str, Any]:
        """One object; `resource_version` "" or "0" reads the latest, a number reads as of it."""
        info = await self.resolve(gvr)
        ns = self._scope(info, namespace)
        revision = parse_resource_version(resource_version) if resource_version else 0
        key = keys.object_key(gvr, ns, name)
        try:
            resp = await self.kv.range(key, revision=revision)
        except CompactedError as exc:
            raise too_old(revision, exc.compact_revision) from exc
        except FutureRevisionError:
            raise too_large(revision) from None
        if not resp.kvs:
            raise self._not_found(info, name)
        return self._decode(info, resp.kvs[0])

    async def list(
        self,
        gvr: GroupVersionResource,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
    ) -> dict[str, Any]:
        """A `<Kind>List` with metadata.resourceVersion, paged by `limit`/`continue` on one snapshot."""
        info = await self.resolve(gvr)
        ns = namespace if info.namespaced else ""
        select = Selection.parse(info, label_selector, field_selector)
        if limit < 0:
            raise BadRequestError(f"limit: Invalid value: {limit}: must be greater than or equal to 0")
        prefix = keys.collection_prefix(gvr, ns)
        end = prefix_range_end(prefix)
        start, revision = prefix, await self._list_revision(resource_version, resource_version_match, continue_, limit)
        if not continue_ and not revision and (cacher := await self.cacher(info)) is not None:
            # "" is a consistent read, "0" any state, N not older than N: all from memory.
            wanted = _wanted_revision(resource_version)
            if wanted == 0 or await cacher.wait_fresh(wanted):
                return _list_from_cache(info, cacher, ns, select, limit)
        if continue_:
            token = keys.decode_continue(continue_, prefix)
            start, revision = token.start, token.revision
        items: list[dict[str, Any]] = []
        more = False
        remaining = 0
        while True:
            want = limit - len(items) if limit else 0
            try:
                resp = await self.kv.range(start, end, limit=want, revision=revision)
            except CompactedError as exc:
                if continue_:
                    raise ExpiredError(_EXPIRED_CONTINUE) from exc
                raise too_old(revision, exc.compact_revision) from exc
            except FutureRevisionError:
                raise too_large(revision) from None
            if not revision:
                revision = resp.header.revision
            for kv in resp.kvs:
                obj = self._decode(info, kv)
                if select.matches(obj):
                    items.append(obj)
            more = resp.more
            if resp.kvs:
                start = resp.kvs[-1].key + b"\0"
            remaining = resp.count - len(resp.kvs)
            if not more or not limit or len(items) >= limit:
                break
        list_meta: dict[str, Any] = {"resourceVersion": str(revision)}
        if more and limit:
            list_meta["continue"] = keys.encode_continue(revision, start)
            if select.empty:
                list_meta["remainingItemCount"] = remaining
        return {"apiVersion": info.gvr.api_version, "kind": info.list_kind, "metadata": list_meta, "items": items}

    async def _list_revision(self, resource_version: str, match: str, continue_: str, limit: int = 0) -> int:
        """The revision a list reads at (0: the latest), by kube's resourceVersion/Match rules.

        A number without a match is NotOlderThan, except with `limit` (a paginated list), where
        kube-apiserver reads exactly that revision (so a compacted one is 410 Gone).
        """
        if continue_:
            if resource_version and resource_version != "0":
                raise BadRequestError("specifying resource version is not allowed when using continue")
            return 0
        if match and match not in ("Exact", "NotOlderThan"):
            raise BadRequestError(
                f'resourceVersionMatch: Unsupported value: "{match}": supported values: "Exact", "NotOlderThan"'
            )
        if match and not resource_version:
            raise BadRequestError("resourceVersionMatch is forbidden unless resourceVersion is provided")
        if not resource_version or resource_version == "0":
            if match == "Exact":
                raise BadRequestError('resourceVersionMatch "Exact" is forbidden for resourceVersion "0"')
            return 0
        revision = parse_resource_version(resource_version)
        if match == "Exact" or (not match and limit > 0):
            return revision
        current = (await self.kv.range(b"\0", limit=1, count_only=True)).header.revision
        if revision > current:
            raise too_large(revision)
        return 0  # NotOlderThan: the latest is not older

    # ------------------------------------------------------------ update

    async def update(
        self, gvr: GroupVersionResource, obj: Mapping[str, Any], namespace: str = "", *, subresource: str = ""
    ) -> dict[str, Any]:
        """Replace an object (or its status); a stale metadata.resourceVersion is a 409 Conflict."""
        info = await self.resolve(gvr)
        if subresource and subresource not in info.subresources:
            raise _no_subresource(gvr, subresource)
        _check_body(obj)
        body_ns = str(obj.get("metadata", {}).get("namespace", "") or "")
        ns = self._scope(info, namespace or body_ns)
        name = meta.name(dict(obj))
        if not name:
            raise BadRequestError("name is required")
        if subresource != "scale":
            _check_kind(info, obj)
        wanted = str(obj.get("metadata", {}).get("resourceVersion", "") or "")
        wanted_rev = parse_resource_version(wanted, "metadata.resourceVersion") if wanted else 0
        strategy = self.strategy_for(info)

        def try_update(current: dict[str, Any]) -> dict[str, Any]:
            if subresource == "scale":
                replicas = obj.get("spec", {}).get("replicas")
                if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                    raise InvalidError.for_object(
                        "Scale", "autoscaling", name, [errors.invalid("spec.replicas", replicas, "must be >= 0")]
                    )
                return self._admit(strategy, apply_scale(current, replicas), current)
            return self._prepare_update(strategy, subresource, dict(obj), current)

        updated = await guaranteed_update(
            self.kv, info, ns, name, try_update, resource_version=wanted_rev, delete_ops=strategy.delete_ops
        )
        result = self._after_update(strategy, updated)
        return scale_of(info, result) if subresource == "scale" else result

    def _prepare_update(
        self, strategy: Strategy, subresource: str, new: dict[str, Any], current: dict[str, Any]
    ) -> dict[str, Any]:
        """What an update (or patch) of the main resource or of `status` stores, validated."""
        if subresource == "status":
            return self._admit(strategy, strategy.prepare_for_status_update(new, current), current)
        return self._admit(strategy, strategy.prepare_for_update(new, current), current)

    def _after_update(self, strategy: Strategy, updated: Updated) -> dict[str, Any]:
        """The strategy's after-write hook for what an update did (nothing when it changed nothing)."""
        if updated.outcome is Outcome.WRITTEN:
            strategy.after_update(updated.obj)
        elif updated.outcome is Outcome.DELETED:  # the last finalizer was removed
            strategy.after_delete(updated.obj)
        return updated.obj

    async def patch(
        self,
        gvr: GroupVersionResource,
        name: str,
        patch_type: str,
        body: bytes | str | dict[str, Any] | builtins.list[Any],
        namespace: str = "",
        *,
        subresource: str = "",
    ) -> dict[str, Any]:
        """Apply a JSON, merge or strategic merge patch to the stored object, then update it.

        The patch applies to the object as read; the write compares that read's
        mod_revision, so a concurrent writer makes it re-read and re-apply (as
        kube-apiserver retries patches). A `metadata.resourceVersion` in the patched result
        that differs from the stored one is a 409 Conflict.
        """
        info = await self.resolve(gvr)
        if subresource and (subresource != "status" or not info.has_status):
            raise _no_subresource(gvr, subresource)
        ns = self._scope(info, namespace)
        try:
            ptype = PatchType(patch_type)
        except ValueError:
            raise errors.UnsupportedMediaTypeError(
                f"the body of the request was in an unknown format - accepted media types include: "
                f"{', '.join(t.value for t in PatchType)}"
            ) from None
        strategy = self.strategy_for(info)

        def try_patch(current: dict[str, Any]) -> dict[str, Any]:
            patched = apply_patch(ptype, current, body, group=gvr.group, kind=info.kind)
            wanted = str(patched.get("metadata", {}).get("resourceVersion", "") or "")
            if wanted and wanted != current["metadata"]["resourceVersion"]:
                raise ConflictError.for_resource(gvr.resource, gvr.group, name, OPTIMISTIC_LOCK_MESSAGE)
            _check_kind(info, patched)
            if meta.name(patched) != name:
                raise BadRequestError("the name of the object cannot be changed by a patch")
            return self._prepare_update(strategy, subresource, patched, current)

        updated = await guaranteed_update(self.kv, info, ns, name, try_patch, delete_ops=strategy.delete_ops)
        return self._after_update(strategy, updated)

    async def get_scale(self, gvr: GroupVersionResource, name: str, namespace: str = "") -> dict[str, Any]:
        info = await self.resolve(gvr)
        if not info.has_scale:
            raise _no_subresource(gvr, "scale")
        return scale_of(info, await self.get(gvr, name, namespace))

    async def update_status(
        self, gvr: GroupVersionResource, obj: Mapping[str, Any], namespace: str = ""
    ) -> dict[str, Any]:
        """Replace only the status of an object (its `status` subresource)."""
        return await self.update(gvr, obj, namespace, subresource="status")

    async def watch(
        self,
        gvr: GroupVersionResource,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
        resource_version: str = "",
        resource_version_match: str = "",
        allow_watch_bookmarks: bool = False,
        send_initial_events: bool | None = None,
        timeout_seconds: float = 0,
    ) -> ResourceWatch | CacheWatcher:
        """Watch `gvr` from a resourceVersion (kvstore.registry.watch has the rules): from the
        watch cache when it reaches back that far, else from the store."""
        info = await self.resolve(gvr)
        selection = Selection.parse(info, label_selector, field_selector)
        initial = starts_with_current_state(
            resource_version,
            resource_version_match,
            allow_watch_bookmarks=allow_watch_bookmarks,
            send_initial_events=send_initial_events,
            timeout_seconds=timeout_seconds,
        )
        ns = namespace if info.namespaced else ""
        cacher = await self.cacher(info)
        if cacher is not None:
            wanted = _wanted_revision(resource_version)
            if not initial and wanted and wanted < cacher.revision and await self._compacted(wanted + 1):
                cacher = None  # the store's watch answers 410, as without the cache
            elif not initial or wanted == 0 or await cacher.wait_fresh(wanted):
                w = cacher.watch(
                    selection,
                    ns,
                    label_selector,
                    field_selector,
                    resource_version=parse_resource_version(resource_version) if resource_version else 0,
                    initial_state=initial,
                    initial_end_bookmark=bool(send_initial_events),
                    allow_bookmarks=allow_watch_bookmarks,
                    bookmark_interval=self.bookmark_interval,
                    timeout_seconds=timeout_seconds,
                )
                if w is not None:
                    return w
        events: builtins.list[WatchEvent] = []
        if initial:
            listed = await self.list(gvr, ns, label_selector=label_selector, field_selector=field_selector)
            start = int(listed["metadata"]["resourceVersion"])
            if resource_version not in ("", "0") and start < parse_resource_version(resource_version):
                start = parse_resource_version(resource_version)
            events = [{"type": ADDED, "object": item} for item in listed["items"]]
            if send_initial_events:
                events.append(bookmark(info, start, initial_end=True))
        else:
            start = parse_resource_version(resource_version)
        prefix = keys.collection_prefix(gvr, ns)
        source: Watch | CompactedError
        try:
            source = self.kv.watch(
                prefix,
                prefix_range_end(prefix),
                start_revision=start + 1,
                prev_kv=True,
                progress_notify=allow_watch_bookmarks,
            )
        except CompactedError as exc:
            source = exc
        return ResourceWatch(
            selection,
            source,
            resource_version=start,
            initial_events=events,
            allow_bookmarks=allow_watch_bookmarks,
            bookmark_interval=self.bookmark_interval,
            timeout_seconds=timeout_seconds,
        )

    # ------------------------------------------------------------ delete

    async def delete(
        self,
        gvr: GroupVersionResource,
        name: str,
        namespace: str = "",
        *,
        preconditions: Mapping[str, str] | None = None,
        propagation_policy: str = "",
    ) -> dict[str, Any]:
        """Delete an object, or mark it deleted while finalizers remain; returns the last state."""
        info = await self.resolve(gvr)
        ns = self._scope(info, namespace)
        pre = dict(preconditions or {})
        check_options(propagation_policy, pre)

        def try_delete(current: dict[str, Any]) -> dict[str, Any] | Remove:
            check_preconditions(info, name, current, pre)
            marked = mark_deleted(current, propagation_policy)
            return Remove(current) if marked is None else marked

        strategy = self.strategy_for(info)
        updated = await guaranteed_update(self.kv, info, ns, name, try_delete, delete_ops=strategy.delete_ops)
        if updated.outcome is Outcome.DELETED:
            strategy.after_delete(updated.obj)
        return updated.obj  # the last state, or the object marked for deletion while finalizers remain

    async def delete_collection(
        self,
        gvr: GroupVersionResource,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
        propagation_policy: str = "",
    ) -> dict[str, Any]:
        """Delete every matching object (each its own transaction, as kube-apiserver does)."""
        listed = await self.list(gvr, namespace, label_selector=label_selector, field_selector=field_selector)
        deleted = []
        for item in listed["items"]:
            try:
                deleted.append(
                    await self.delete(gvr, meta.name(item), meta.namespace(item), propagation_policy=propagation_policy)
                )
            except NotFoundError:
                continue  # deleted meanwhile
        return {**listed, "items": deleted}


_EXPIRED_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter."
)


def _wanted_revision(resource_version: str) -> int | None:
    """What the cache must have seen to answer: None the store's current revision (""), 0
    anything ("0"), else that revision (NotOlderThan)."""
    if not resource_version:
        return None
    return 0 if resource_version == "0" else parse_resource_version(resource_version)


def _list_from_cache(info: ResourceInfo, cacher: Cacher, ns: str, select: Selection, limit: int) -> dict[str, Any]:
    """A list answered from the watch cache at its revision, paged as the store's would be
    (a continue token then reads the store at that revision). Items are shared: read-only."""
    entries = cacher.entries(ns)
    revision = cacher.revision
    items: builtins.list[dict[str, Any]]
    examined = len(entries)
    if select.empty and (not limit or limit >= len(entries)):
        items = [e.obj() for e in entries]
    else:
        items = []
        matches = select.matches
        for i, entry in enumerate(entries):
            obj = entry.obj()
            if select.empty or matches(obj):
                items.append(obj)
                if limit and len(items) >= limit:
                    examined = i + 1
                    break
    list_meta: dict[str, Any] = {"resourceVersion": str(revision)}
    if limit and examined < len(entries):
        list_meta["continue"] = keys.encode_continue(revision, entries[examined - 1].key + b"\0")
        if select.empty:
            list_meta["remainingItemCount"] = len(entries) - examined
    return {"apiVersion": info.gvr.api_version, "kind": info.list_kind, "metadata": list_meta, "items": items}


def _no_subresource(gvr: GroupVersionResource, subresource: str) -> NotFoundError:
    return NotFoundError(f"the server could not find the requested resource ({gvr.resource}/{subresource})")


def _check_body(obj: Any) -> None:
    """A request body must be an object whose metadata, if any, is an object (kube: 400)."""
    if not isinstance(obj, Mapping):
        raise BadRequestError("the request body is not an object")
    md = obj.get("metadata")
    if md is not None and not isinstance(md, Mapping):
        raise BadRequestError(f"metadata: Invalid value: {type(md).__name__}: must be an object")
    for key in ("name", "namespace", "resourceVersion", "generateName"):
        if md and md.get(key) is not None and not isinstance(md[key], str):
            raise BadRequestError(f"metadata.{key}: Invalid value: {md[key]!r}: must be a string")


def _check_kind(info: ResourceInfo, obj: Mapping[str, Any]) -> None:
    """An object's apiVersion/kind, when given, must be the resource's (kube: 400 BadRequest)."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if api_version and api_version != info.gvr.api_version:
        raise BadRequestError(
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({info.gvr.api_version})"
        )
    if kind and kind != info.kind:
        raise BadRequestError(f"the kind in the data ({kind}) does not match the expected kind ({info.kind})")
