"""The lock leader election writes to (client-go tools/leaderelection/resourcelock).

`ResourceLock` is the contract: read the current `LeaderElectionRecord`, create it, or
replace it. A replacement is conditional: it carries the resourceVersion of the object
this lock last read or wrote, so it fails with `ConflictError` if anyone else wrote in
between. That compare-and-swap is what makes two candidates unable to both take an
expired lease: only the first update on a given version succeeds.

`LeaseLock` keeps the record in the spec of a `coordination.k8s.io/v1` Lease:

    LeaderElectionRecord                Lease spec
    holder_identity="kcm-a"          -> holderIdentity: "kcm-a"
    lease_duration_seconds=15        -> leaseDurationSeconds: 15
    acquire_time=10:00:00.000001Z    -> acquireTime: "2024-01-01T10:00:00.000001Z"   (MicroTime)
    renew_time=10:00:04.250000Z      -> renewTime: "2024-01-01T10:00:04.250000Z"     (MicroTime)
    leader_transitions=3             -> leaseTransitions: 3

An empty `holder_identity` means nobody holds the lease (it was released). A lock is
used by one elector at a time: it caches the last object it read or wrote.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from apimachinery.client import ResourceClient
from apimachinery.schema import GroupVersionResource

LEASES = GroupVersionResource("coordination.k8s.io", "v1", "leases")


@dataclass(frozen=True, slots=True)
class LeaderElectionRecord:
    """Who holds the lock, for how long, and since when (resourcelock.LeaderElectionRecord)."""

    holder_identity: str = ""
    """The candidate holding the lease; empty when nobody does."""
    lease_duration_seconds: int = 0
    """How long, after seeing this record change, other candidates must wait to take over."""
    acquire_time: datetime | None = None
    """When the current holder acquired the lease (kept by every renewal)."""
    renew_time: datetime | None = None
    """When the holder last wrote the record, by the holder's clock (informational)."""
    leader_transitions: int = 0
    """How many times the lease changed hands."""


class ResourceLock(Protocol):
    """resourcelock.Interface: where a leader election record lives."""

    async def get(self) -> LeaderElectionRecord:
        """The stored record; `NotFoundError` if the lock object does not exist."""
        ...

    async def create(self, record: LeaderElectionRecord) -> None:
        """Create the lock object holding `record`; `AlreadyExistsError` if it exists."""
        ...

    async def update(self, record: LeaderElectionRecord) -> None:
        """Replace the record, on the condition that nobody wrote since this lock last
        read or wrote it (`ConflictError` otherwise)."""
        ...

    def identity(self) -> str:
        """The candidate this lock writes for."""
        ...

    def describe(self) -> str:
        """`namespace/name`, for logs."""
        ...


class LockNotInitializedError(RuntimeError):
    """`update()` was called before `get()` or `create()` gave the lock an object to replace."""


class LeaseLock:
    """A `ResourceLock` on a coordination.k8s.io/v1 Lease, through a `ResourceClient`."""

    def __init__(
        self,
        client: ResourceClient,
        namespace: str,
        name: str,
        identity: str,
        *,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self._identity = identity
        self.labels = dict(labels or {})
        """Labels put on the Lease when this lock creates it."""
        self._lease: dict[str, Any] | None = None
        """The Lease as last read or written; its resourceVersion guards the next update."""

    def identity(self) -> str:
        return self._identity

    def describe(self) -> str:
        return f"{self.namespace}/{self.name}"

    async def get(self) -> LeaderElectionRecord:
        self._lease = await self.client.get(LEASES, self.name, self.namespace)
        return record_from_lease_spec(self._lease.get("spec") or {})

    async def create(self, record: LeaderElectionRecord) -> None:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if self.labels:
            metadata["labels"] = dict(self.labels)
        lease = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": lease_spec_from_record(record),
        }
        self._lease = await self.client.create(LEASES, lease, self.namespace)

    async def update(self, record: LeaderElectionRecord) -> None:
        if self._lease is None:
            raise LockNotInitializedError("lease not initialized, call get or create first")
        lease = {**self._lease, "spec": lease_spec_from_record(record)}
        self._lease = await self.client.update(LEASES, lease, self.namespace)


def lease_spec_from_record(record: LeaderElectionRecord) -> dict[str, Any]:
    """The Lease spec holding `record` (LeaderElectionRecordToLeaseSpec); unset times are left out."""
    spec: dict[str, Any] = {
        "holderIdentity": record.holder_identity,
        "leaseDurationSeconds": record.lease_duration_seconds,
        "leaseTransitions": record.leader_transitions,
    }
    if record.acquire_time is not None:
        spec["acquireTime"] = format_micro_time(record.acquire_time)
    if record.renew_time is not None:
        spec["renewTime"] = format_micro_time(record.renew_time)
    return spec


def record_from_lease_spec(spec: Mapping[str, Any]) -> LeaderElectionRecord:
    """The record a Lease spec holds (LeaseSpecToLeaderElectionRecord); absent fields are zero."""
    return LeaderElectionRecord(
        holder_identity=str(spec.get("holderIdentity") or ""),
        lease_duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=parse_micro_time(spec.get("acquireTime")),
        renew_time=parse_micro_time(spec.get("renewTime")),
        leader_transitions=int(spec.get("leaseTransitions") or 0),
    )


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))\Z"
)


def format_micro_time(when: datetime) -> str:
    """metav1.MicroTime's form: RFC 3339 in UTC with six fractional digits."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(value: Any) -> datetime | None:
    """An RFC 3339 time (any number of fractional digits, cut to microseconds) in UTC.

    None or "" (an unset MicroTime) gives None; anything else unparsable is a ValueError.
    """
    if value is None or value == "":
        return None
    match = _RFC3339.match(str(value))
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {value!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    micros = int((match.group(7) or "0")[:6].ljust(6, "0"))
    when = datetime(year, month, day, hour, minute, second, micros, tzinfo=UTC)
    if match.group(9):
        offset = timedelta(hours=int(match.group(10)), minutes=int(match.group(11)))
        when -= offset if match.group(9) == "+" else -offset
    return when
