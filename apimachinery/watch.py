"""The watch contract (k8s.io/apimachinery/pkg/watch): event types and `Interface`.

A watch is an async iterator of events, each `{"type": ..., "object": {...}}` as on
kube-apiserver's watch stream; `stop()` ends it and iteration then finishes. Every
backend hands out something that meets `Interface`: the embedded registry's
`ResourceWatch`, the network client's watch, and any Kubernetes REST client, so an
informer does not know which one it reads.

    w = await client.watch(PODS, "default", resource_version="42", allow_watch_bookmarks=True)
    async for event in w:          # ADDED, MODIFIED, DELETED, BOOKMARK or ERROR
        ...
    w.stop()
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final, Protocol

ADDED: Final = "ADDED"
MODIFIED: Final = "MODIFIED"
DELETED: Final = "DELETED"
BOOKMARK: Final = "BOOKMARK"
"""Only a resourceVersion: everything up to it has been delivered (no object change)."""
ERROR: Final = "ERROR"
"""The object is a `Status`; the watch ends after it (410 Gone: relist)."""
EVENT_TYPES: Final = (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR)

INITIAL_EVENTS_END: Final = "k8s.io/initial-events-end"
"""The annotation on the BOOKMARK that ends a watch's initial events (sendInitialEvents=true)."""

Event = dict[str, Any]
"""One watch event: `{"type": <one of EVENT_TYPES>, "object": {...}}`."""


class Interface(Protocol):
    """A started watch: events until the server ends it or `stop()` is called (watch.Interface)."""

    def stop(self) -> None:
        """End the watch; iteration finishes after what is already delivered."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def __anext__(self) -> Event: ...
