"""Crash durability: a writer process is SIGKILLed mid-stream, again and again.

`crash_writer.py` writes as fast as it can from many concurrent tasks (fsync on) and
prints one line per acknowledged write. The test kills it at a random point, reopens
the store and checks, as etcd promises, that every acknowledged write survived and that
the history the store reopens with is consistent.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import kvstore
from kvstore import EventType, KeyValue

WRITER = Path(__file__).with_name("crash_writer.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
CYCLES = 25
MIN_ACKS, MAX_ACKS = 50, 2000
LINE_TIMEOUT = 30.0  # seconds to wait for the writer's next line before giving up
ALL_KEYS = (b"\0", b"\0")  # key, range_end: every key


@dataclass
class History:
    """The store's history as a watch from revision 1 replays it, checked on the way."""

    revision: int = 1  # the last revision replayed
    live: dict[bytes, KeyValue] = field(default_factory=dict)
    changes: dict[tuple[bytes, int], bytes | None] = field(default_factory=dict)  # None: deleted
    snapshots: dict[int, dict[bytes, KeyValue]] = field(default_factory=dict)

    def apply(self, ev: kvstore.Event, snapshot_at: set[int]) -> None:
        kv = ev.kv
        rev = kv.mod_revision
        if rev != self.revision:
            assert rev == self.revision + 1, f"history jumps from revision {self.revision} to {rev}"
            if self.revision in snapshot_at:
                self.snapshots[self.revision] = dict(self.live)
            self.revision = rev
        assert (kv.key, rev) not in self.changes, f"{kv.key!r} changed twice in revision {rev}"
        prev = self.live.get(kv.key)
        if ev.type == EventType.PUT:
            if prev is None:
                assert (kv.version, kv.create_revision) == (1, rev), f"bad creation {kv}"
            else:
                assert kv.version == prev.version + 1, f"version of {kv.key!r} skips: {prev} -> {kv}"
                assert kv.create_revision == prev.create_revision, f"create_revision changed: {prev} -> {kv}"
            self.live[kv.key] = kv
            self.changes[(kv.key, rev)] = kv.value
        else:
            assert prev is not None, f"delete of absent key {kv.key!r} at {rev}"
            del self.live[kv.key]
            self.changes[(kv.key, rev)] = None


async def replay(store: kvstore.Store, snapshot_at: set[int]) -> History:
    """Replay every event from revision 1 through a watch, checking it as it goes."""
    history = History()
    watcher = store.watch(*ALL_KEYS, start_revision=1)
    watcher.request_progress()  # answered once every event so far has been delivered
    async with asyncio.timeout(60):
        async for resp in watcher:
            for ev in resp.events:
                history.apply(ev, snapshot_at)
            if resp.is_progress_notify:
                assert resp.header.revision == store.revision
                break
    watcher.cancel()
    if history.revision in snapshot_at:
        history.snapshots[history.revision] = dict(history.live)
    return history


def acked_changes(record: dict[str, Any]) -> list[tuple[bytes, int, bytes | None]]:
    """(key, revision, value or None for a delete) of each change an acknowledged line reports."""
    rev: int = record["rev"]
    if record["op"] == "put":
        return [(record["key"].encode(), rev, record["value"].encode())]
    if record["op"] == "del":
        return [(k.encode(), rev, None) for k in record["keys"]]
    puts = [(k.encode(), rev, v.encode()) for k, v in record["puts"].items()]
    return puts + [(k.encode(), rev, None) for k in record["dels"]]


async def run_writer_until_killed(
    path: Path, run: int, seed: int, acks: int, stderr_path: Path
) -> list[dict[str, Any]]:
    """Start the writer, read `acks` acknowledged lines, SIGKILL it; return every whole line it printed."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    with stderr_path.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(WRITER),
            str(path),
            str(run),
            str(seed),
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
    try:
        assert proc.stdout is not None
        lines: list[bytes] = []
        while len(lines) < acks:
            line = await asyncio.wait_for(proc.stdout.readline(), LINE_TIMEOUT)
            if not line.endswith(b"\n"):
                await proc.wait()
                raise AssertionError(
                    f"writer ended after {len(lines)} lines (exit {proc.returncode}):\n{stderr_path.read_text()}"
                )
            lines.append(line)
        proc.send_signal(signal.SIGKILL)
        assert await proc.wait() == -signal.SIGKILL, stderr_path.read_text()
        # Lines still in the pipe were acknowledged too; a cut-off last line was not printed whole.
        rest = await proc.stdout.read()
        lines += [line + b"\n" for line in rest.split(b"\n")[:-1]]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return [json.loads(line) for line in lines]


async def check_reopened(
    path: Path, records: list[dict[str, Any]], earlier: list[dict[str, Any]], rng: random.Random, run: int
) -> dict[str, Any]:
    """Reopen the store after a crash and check it; return the probe write made at the end."""
    store = kvstore.open(path)
    try:
        current = store.revision
        max_acked = max(r["rev"] for r in records)
        assert current >= max_acked, f"store reopened at revision {current}, but {max_acked} was acknowledged"

        # Compare the whole keyspace at a few revisions with the replayed history.
        samples = {current, *rng.sample(range(2, current + 1), min(2, current - 1))}
        history = await replay(store, samples)
        assert history.revision == current, f"history ends at {history.revision}, store at {current}"
        # The watch reads history only up to the store's revision: check on disk that no
        # change lies beyond it and that the watch saw every row.
        backend = store._backend
        with backend.read() as txn:
            rows = txn.stat(backend.history_db)["entries"]
            cursor = txn.cursor(db=backend.history_db)
            assert cursor.last()
            last_main = int.from_bytes(cursor.key()[:8], "big")
        assert last_main == current, f"a change at revision {last_main}, above the store's {current}"
        assert rows == len(history.changes), f"{rows} history rows, {len(history.changes)} replayed"
        for rev in sorted(samples):
            resp = await store.range(*ALL_KEYS, revision=rev)
            assert {kv.key: kv for kv in resp.kvs} == history.snapshots[rev], f"range at {rev} disagrees"
            assert all(kv.mod_revision <= rev for kv in resp.kvs)

        # Every acknowledged write of every run is in the history, at its revision.
        for record in earlier + records:
            for key, rev, value in acked_changes(record):
                assert history.changes.get((key, rev), b"<missing>") == value, f"lost acknowledged write {record}"

        # And a read at its revision sees the writes of this run.
        for record in records:
            for key, rev, value in acked_changes(record):
                resp = await store.range(key, revision=rev)
                if value is None:
                    assert resp.kvs == [], f"{key!r} still present at {rev}: {record}"
                    before = await store.range(key, revision=rev - 1)
                    assert len(before.kvs) == 1, f"{key!r} deleted at {rev} but absent before: {record}"
                else:
                    assert len(resp.kvs) == 1, f"{key!r} absent at {rev}: {record}"
                    kv = resp.kvs[0]
                    assert (kv.mod_revision, kv.value) == (rev, value), f"{kv} != {record}"

        # The recovered store takes writes and continues its revisions.
        probe = f"probe/{run:03d}"
        p = await store.put(probe, "ok")
        assert p.header.revision == current + 1
        return {"op": "put", "key": probe, "value": "ok", "rev": current + 1}
    finally:
        await store.close()


@pytest.mark.timeout(180)
async def test_every_acknowledged_write_survives_sigkill_and_history_stays_consistent(tmp_path: Path) -> None:
    """etcd: every acknowledged write survives a crash; the store reopens with a consistent history.

    25 times on the same directory (so recovery follows recovery): a writer with 32
    concurrent tasks doing puts, deletes and txns is SIGKILLed after a random number of
    acknowledged writes. On reopen: each acknowledged write is in the history at its
    revision, the store's revision is at least the highest acknowledged one, each
    revision from 2 on holds at least one change, versions grow by one per put, no
    mod_revision exceeds the store's revision, and ranges at past revisions agree with
    the replayed history.
    """
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    path = tmp_path / "store"
    earlier: list[dict[str, Any]] = []
    for run in range(CYCLES):
        acks = rng.randint(MIN_ACKS, MAX_ACKS)
        records = await run_writer_until_killed(path, run, seed + run, acks, tmp_path / f"writer-{run}.err")
        assert len(records) >= acks
        try:
            probe = await check_reopened(path, records, earlier, rng, run)
        except AssertionError as exc:
            raise AssertionError(f"run {run} (seed {seed}, {acks} acks): {exc}") from exc
        earlier += [*records, probe]
