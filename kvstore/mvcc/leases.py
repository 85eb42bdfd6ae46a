"""The replicated lease table: which leases exist, their granted TTL and attached keys.

This is state that the deterministic apply function owns and changes. When leases
expire is a question of wall time, answered outside it (see `kvstore.lease.Lessor`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Lease:
    id: int
    ttl: int
    keys: set[bytes] = field(default_factory=set)


class LeaseTable:
    def __init__(self) -> None:
        self.leases: dict[int, Lease] = {}

    def __contains__(self, lease_id: int) -> bool:
        return lease_id in self.leases

    def __len__(self) -> int:
        return len(self.leases)

    def get(self, lease_id: int) -> Lease | None:
        return self.leases.get(lease_id)

    def grant(self, lease_id: int, ttl: int) -> Lease:
        lease = self.leases[lease_id] = Lease(lease_id, ttl)
        return lease

    def remove(self, lease_id: int) -> Lease | None:
        return self.leases.pop(lease_id, None)

    def attach(self, lease_id: int, key: bytes) -> None:
        if lease_id:
            lease = self.leases.get(lease_id)
            if lease is not None:
                lease.keys.add(key)

    def detach(self, lease_id: int, key: bytes) -> None:
        if lease_id:
            lease = self.leases.get(lease_id)
            if lease is not None:
                lease.keys.discard(key)

    def clear(self) -> None:
        self.leases.clear()
