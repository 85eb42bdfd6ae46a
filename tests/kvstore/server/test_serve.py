"""`kvs serve` as a process: clean shutdown, crash and restart, clients that reconnect."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import kvstore
from tests.servers import REPO_ROOT, KvsServer

P = b"/serve/"
END = kvstore.prefix_range_end(P)
SERVE = [sys.executable, "-m", "kvs", "serve"]


async def test_sigterm_finishes_writes_and_exits_cleanly(tmp_path: Path) -> None:
    """etcd: a graceful stop keeps every acknowledged write; the data directory reopens as is."""
    server = await asyncio.to_thread(KvsServer(tmp_path / "data").start)
    try:
        async with kvstore.connect(server.endpoint, timeout=30) as client:
            acked = await asyncio.gather(*(client.put(P + b"%03d" % i, b"v%d" % i) for i in range(300)))
        code = await asyncio.to_thread(server.stop)
        assert code == 0
        assert "every acknowledged write is on disk" in server.log_tail()
    finally:
        await asyncio.to_thread(server.close)
    async with kvstore.open(tmp_path / "data") as store:
        got = await store.range(P, END)
        assert len(got.kvs) == 300
        assert store.revision == max(r.header.revision for r in acked) == 301


async def test_sigint_also_stops_cleanly(tmp_path: Path) -> None:
    """Ctrl-C in a terminal is a clean stop too."""
    server = await asyncio.to_thread(KvsServer(tmp_path / "data").start)
    try:
        async with kvstore.connect(server.endpoint, timeout=30) as client:
            await client.put(P + b"k", b"v")
        assert server.proc is not None
        server.proc.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(server.proc.wait, 30) == 0
    finally:
        await asyncio.to_thread(server.close)


async def test_the_client_survives_a_crash_and_restart_and_resumes_its_watch(tmp_path: Path) -> None:
    """etcd clientv3: after the server comes back, calls go on and every watch resumes from
    the revision after the last one it delivered: nothing lost, nothing twice."""
    server = await asyncio.to_thread(KvsServer(tmp_path / "data").start)
    try:
        async with kvstore.connect(server.endpoint, timeout=60) as client:
            watcher = client.watch(P, END, start_revision=1, prev_kv=True)
            await watcher.wait_created()
            seen: list[int] = []
            caught_up = asyncio.Event()

            async def follow() -> None:
                async for resp in watcher:
                    seen.extend(e.kv.mod_revision for e in resp.events)
                    if seen and seen[-1] >= 101:
                        caught_up.set()
                    if seen and seen[-1] >= 201:
                        return

            follower = asyncio.create_task(follow())
            for i in range(100):
                await client.put(P + b"%d" % (i % 10), b"before-%d" % i)
            await asyncio.wait_for(caught_up.wait(), 30)  # everything so far was delivered
            await asyncio.to_thread(server.kill)  # a crash: SIGKILL
            restarted = asyncio.create_task(asyncio.to_thread(server.start))
            # A read issued while the server is down waits and is retried until it is back.
            got = await client.range(P, END, count_only=True)
            assert got.count == 10 and got.header.revision == 101
            await restarted
            for i in range(100):
                await client.put(P + b"%d" % (i % 10), b"after-%d" % i)
            await asyncio.wait_for(follower, 60)
            assert seen == list(range(2, 202))
            assert client.watch_reconnects >= 1
            watcher.cancel()
    finally:
        await asyncio.to_thread(server.close)


def test_a_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    """A second server on a taken port exits 1 with a message instead of sharing it."""
    with KvsServer(tmp_path / "first") as first:
        out = subprocess.run(
            [*SERVE, "--data-dir", str(tmp_path / "second"), "--listen-client-urls", first.url],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert out.returncode == 1
    assert "cannot listen on" in out.stderr


@pytest.mark.parametrize("url", ["https://127.0.0.1:2379", "127.0.0.1", "http://127.0.0.1:99999"])
def test_bad_listen_urls_are_refused(tmp_path: Path, url: str) -> None:
    """Flags are checked before anything starts: exit 2 naming the flag."""
    out = subprocess.run(
        [*SERVE, "--data-dir", str(tmp_path), "--listen-client-urls", url],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and "--listen-client-urls" in out.stderr


@pytest.mark.parametrize("delay", ["-1", "11"])
def test_a_bad_watch_batch_delay_is_refused(tmp_path: Path, delay: str) -> None:
    """Out-of-range batching delay: exit 2 naming the flag, before the data dir is created."""
    data = tmp_path / "data"
    out = subprocess.run(
        [
            *SERVE,
            "--data-dir",
            str(data),
            "--listen-client-urls",
            "http://127.0.0.1:0",
            "--watch-batch-max-delay",
            delay,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2 and "--watch-batch-max-delay" in out.stderr
    assert not data.exists()
