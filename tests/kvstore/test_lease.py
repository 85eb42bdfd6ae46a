"""Leases: etcd v3's grant, keep-alive, time-to-live, revoke and expiry."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import kvstore
from kvstore import EventType, LeaseExistsError, LeaseNotFoundError, LeaseTTLTooLargeError


async def next_events(watcher: kvstore.Watcher, timeout: float = 10) -> tuple[kvstore.Event, ...]:
    return (await asyncio.wait_for(anext(watcher), timeout)).events


async def test_grant_time_to_live_and_leases(store: kvstore.Store) -> None:
    """etcd: a grant returns the ID and TTL; TimeToLive reports remaining, granted TTL and keys."""
    lease = await store.lease_grant(60)
    assert lease.ttl == 60 and lease.id > 0
    await store.put(b"b", b"1", lease=lease.id)
    await store.put(b"a", b"1", lease=lease.id)
    ttl = await store.lease_time_to_live(lease.id, keys=True)
    assert ttl.granted_ttl == 60 and 58 <= ttl.ttl <= 60
    assert ttl.keys == [b"a", b"b"]
    assert (await store.lease_time_to_live(lease.id)).keys == []
    assert [s.id for s in (await store.leases()).leases] == [lease.id]
    assert (await store.range(b"a")).kvs[0].lease == lease.id


async def test_grant_with_an_id_and_ttl_limits(store: kvstore.Store) -> None:
    """etcd: a chosen ID must be free (ErrLeaseExists); TTL is raised to the minimum and capped
    by MaxLeaseTTL (ErrLeaseTTLTooLarge)."""
    lease = await store.lease_grant(0, id=77)
    assert lease.id == 77 and lease.ttl == 1  # this fixture's minimum TTL is 1 s
    with pytest.raises(LeaseExistsError) as err:
        await store.lease_grant(30, id=77)
    assert err.value.lease_id == 77
    with pytest.raises(LeaseTTLTooLargeError):
        await store.lease_grant(9_000_000_001)
    negative = await store.lease_grant(10, id=-3)  # etcd takes any non-zero ID
    assert negative.id == -3 and -3 in [s.id for s in (await store.leases()).leases]


async def test_revoke_deletes_every_attached_key_in_one_revision(store: kvstore.Store) -> None:
    """etcd: revoking a lease deletes its keys in one transaction: one new revision, DELETE events."""
    lease = await store.lease_grant(60)
    await store.put(b"x", b"1", lease=lease.id)
    await store.put(b"y", b"1", lease=lease.id)
    await store.put(b"z", b"1")
    w = store.watch(b"\0", b"\0")
    r = await store.lease_revoke(lease.id)
    assert r.header.revision == 5
    events = await next_events(w)
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in events] == [
        (EventType.DELETE, b"x", 5),
        (EventType.DELETE, b"y", 5),
    ]
    assert [kv.key for kv in (await store.range(b"\0", b"\0")).kvs] == [b"z"]
    with pytest.raises(LeaseNotFoundError):
        await store.lease_revoke(lease.id)
    assert (await store.lease_time_to_live(lease.id)).ttl == -1  # etcd answers TTL -1, no error


async def test_an_expired_lease_deletes_its_keys(store: kvstore.Store) -> None:
    """etcd: when a lease's TTL passes without keep-alive, its keys get a normal DELETE at a new revision."""
    lease = await store.lease_grant(1)
    await store.put(b"session", b"alive", lease=lease.id)
    w = store.watch(b"session")
    events = await next_events(w)
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in events] == [(EventType.DELETE, b"session", 3)]
    assert store.revision == 3
    assert (await store.lease_keep_alive(lease.id)).ttl == 0  # gone: keep-alive answers TTL 0
    assert (await store.leases()).leases == []
    assert store._lessor.expired_revocations == 1


async def test_keep_alive_restarts_the_ttl(store: kvstore.Store) -> None:
    """etcd: a keep-alive resets the remaining time to the granted TTL."""
    lease = await store.lease_grant(60)
    clock = store._lessor
    before = clock.remaining(lease.id)
    ka = await store.lease_keep_alive(lease.id)
    assert ka.id == lease.id and ka.ttl == 60
    assert clock.remaining(lease.id) >= before
    assert (await store.lease_keep_alive(999)).ttl == 0  # unknown lease: TTL 0, as etcd answers


async def test_put_with_an_unknown_lease_is_rejected(store: kvstore.Store) -> None:
    """etcd: a put naming a lease that does not exist is ErrLeaseNotFound and writes nothing."""
    with pytest.raises(LeaseNotFoundError) as err:
        await store.put(b"k", b"v", lease=12345)
    assert err.value.lease_id == 12345
    assert store.revision == 1


async def test_moving_a_key_to_another_lease_detaches_it(store: kvstore.Store) -> None:
    """etcd: a put with a new lease (or none) moves the key; revoking the old lease leaves it."""
    first = await store.lease_grant(60)
    second = await store.lease_grant(60)
    await store.put(b"k", b"1", lease=first.id)
    await store.put(b"k", b"2", lease=second.id)
    await store.put(b"plain", b"1", lease=first.id)
    await store.put(b"plain", b"2")
    await store.lease_revoke(first.id)
    assert (await store.range(b"k")).kvs[0].value == b"2"
    assert (await store.range(b"plain")).kvs[0].value == b"2"
    assert (await store.lease_time_to_live(second.id, keys=True)).keys == [b"k"]
    await store.delete_range(b"k")
    assert (await store.lease_time_to_live(second.id, keys=True)).keys == []


async def test_leases_survive_a_restart_with_a_fresh_ttl(tmp_path: Path) -> None:
    """etcd: leases are persisted; after a restart each gets its full TTL again, keys stay attached."""
    path = tmp_path / "s"
    async with kvstore.open(path) as s:
        lease = await s.lease_grant(120)
        await s.put(b"k", b"v", lease=lease.id)
    async with kvstore.open(path) as s:
        ttl = await s.lease_time_to_live(lease.id, keys=True)
        assert ttl.granted_ttl == 120 and ttl.ttl >= 119 and ttl.keys == [b"k"]
        await s.lease_revoke(lease.id)
        assert (await s.range(b"k")).kvs == []
