"""A writer for the crash tests: writes as fast as it can until it is killed.

Usage: python crash_writer.py DATA_DIR RUN SEED

Opens the store at DATA_DIR (fsync on, the default) and runs many concurrent writer
tasks. After each write is acknowledged it prints one JSON line on stdout, flushed at
once, describing what the store acknowledged:

  {"op": "put", "key": k, "value": v, "rev": r}
  {"op": "del", "keys": [k, ...], "rev": r}                  (the keys it deleted)
  {"op": "txn", "rev": r, "puts": {k: v, ...}, "dels": [k, ...]}

Keys are ASCII strings. RUN makes the keys of one run distinct from earlier runs on the
same directory; every task also keeps overwriting one key of its own (`s/<task>`), so
versions keep growing across runs. The writer never stops by itself: the test kills it.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from typing import Any

import kvstore
from kvstore import DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest, compare_version

TASKS = 32


def emit(record: dict[str, Any]) -> None:
    # One short line per write call: a pipe write below PIPE_BUF is atomic, so the
    # reader sees only whole lines, except perhaps a cut-off last one.
    sys.stdout.write(json.dumps(record, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def unique_key(run: int, task: int, i: int) -> str:
    return f"k/{run:03d}/{task:02d}/{i:06d}"


async def writer(store: kvstore.Store, run: int, task: int, rng: random.Random) -> None:
    shared = f"s/{task:02d}"
    current = await store.range(shared)
    version = current.kvs[0].version if current.kvs else 0
    live: list[str] = []  # unique keys of this task that still exist
    i = 0
    while True:
        i += 1
        value = f"{run}:{task}:{i}"
        if i % 13 == 0:
            # A guarded txn: overwrite the shared key, create one key, delete one key,
            # and create another in a nested txn.
            nested_key = unique_key(run, task, i) + "/n"
            key = unique_key(run, task, i)
            dels = [live.pop(rng.randrange(len(live)))] if live else []
            success: list[Any] = [
                PutRequest(shared.encode(), value.encode()),
                PutRequest(key.encode(), value.encode()),
                *(DeleteRangeRequest(k.encode()) for k in dels),
                TxnRequest(
                    compare=(compare_version(nested_key.encode(), "=", 0),),
                    success=(PutRequest(nested_key.encode(), value.encode()),),
                ),
            ]
            t = await store.txn(
                compare=[compare_version(shared.encode(), "=", version)],
                success=success,
                failure=[RangeRequest(shared.encode())],
            )
            if not t.succeeded:
                raise AssertionError(f"txn on {shared} failed: version {version} expected")
            version += 1
            live += [key, nested_key]
            emit(
                {
                    "op": "txn",
                    "rev": t.header.revision,
                    "puts": {shared: value, key: value, nested_key: value},
                    "dels": dels,
                }
            )
        elif i % 11 == 0 and live:
            key = live.pop(rng.randrange(len(live)))
            d = await store.delete_range(key)
            if d.deleted != 1:
                raise AssertionError(f"delete of {key} deleted {d.deleted}")
            emit({"op": "del", "keys": [key], "rev": d.header.revision})
        elif i % 17 == 0 and len(live) > 4:
            # A range delete over the oldest live keys of this task.
            live.sort()
            end = live[3]
            start = f"k/{run:03d}/{task:02d}/"
            d = await store.delete_range(start, end, prev_kv=True)
            gone = [kv.key.decode() for kv in d.prev_kvs]
            if gone != live[:3]:
                raise AssertionError(f"range delete removed {gone}, expected {live[:3]}")
            del live[:3]
            emit({"op": "del", "keys": gone, "rev": d.header.revision})
        elif i % 5 == 0:
            p = await store.put(shared, value, prev_kv=True)
            version = (p.prev_kv.version if p.prev_kv else 0) + 1
            emit({"op": "put", "key": shared, "value": value, "rev": p.header.revision})
        else:
            key = unique_key(run, task, i)
            p = await store.put(key, value)
            live.append(key)
            emit({"op": "put", "key": key, "value": value, "rev": p.header.revision})


async def main(path: str, run: int, seed: int) -> None:
    store = kvstore.open(path)
    rngs = [random.Random(seed * 1000 + t) for t in range(TASKS)]
    await asyncio.gather(*(writer(store, run, t, rngs[t]) for t in range(TASKS)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
