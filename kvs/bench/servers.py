"""Servers for the network benchmarks: `kvs serve` and a real etcd, as subprocesses on loopback.

Each server gets a fresh temporary data directory and a log file next to it, listens on
127.0.0.1 on a free port, and is stopped (SIGTERM, then SIGKILL) and removed when its
`with` block ends, whatever happens inside. A server counts as up once a put through
`kvstore.connect()` succeeds. Its CPU time (user + system, every thread) is read from
/proc/<pid>/stat.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import h2grpc
import kvs
import kvstore
from kvs.bench.common import Config, fresh_dir

READY_TIMEOUT = 30.0  # seconds a server gets to come up
STOP_TIMEOUT = 10.0  # seconds it gets to exit after SIGTERM, before SIGKILL
_KVS_READY = re.compile(r"ready to serve client requests on http://(\S+?)[ ,]")
_TCP_ESTABLISHED = "01"


class ServerStartError(RuntimeError):
    """A server did not come up; the message ends with the tail of its log."""


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of stat(5)); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def established_connections(port: int) -> int:
    """Established TCP connections whose local port is `port` (server side), from /proc/net."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 3 and parts[3] == _TCP_ESTABLISHED and int(parts[1].rsplit(":", 1)[1], 16) == port:
                n += 1
    return n


def free_port() -> int:
    """A port nobody listens on right now (the usual small race: the server may lose it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_etcd() -> str | None:
    """The etcd binary on the PATH, if any."""
    return shutil.which("etcd")


def etcd_version(path: str) -> str:
    """e.g. "3.4.23" ("?" if `etcd --version` does not say)."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    m = re.search(r"etcd Version:\s*(\S+)", out)
    return m[1] if m else "?"


def child_env() -> dict[str, str]:
    """The environment for subprocesses: the project's packages importable as this process
    imports them (a checkout or site-packages), no ETCD_* settings."""
    roots = []
    for package in (kvstore, kvs, h2grpc):
        root = os.path.dirname(os.path.dirname(os.path.abspath(package.__file__ or "")))
        if root not in roots:
            roots.append(root)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}
    if env.get("PYTHONPATH"):
        roots.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(roots)
    return env


@dataclass
class ServerProcess:
    """A running server: its name, its endpoint (host:port) and its process."""

    name: str  # "kvs serve" or "etcd 3.4.23"
    endpoint: str
    proc: subprocess.Popen[bytes]
    log_path: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def connections(self) -> int:
        return established_connections(self.port)

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, wait, then SIGKILL: the process is gone when this returns."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


async def _probe(server: ServerProcess, deadline: float) -> str:
    """Put a key until it works; "" once it did, else the last error."""
    error = "no answer"
    client = kvstore.connect(server.endpoint, timeout=2.0)
    try:
        while time.monotonic() < deadline and server.proc.poll() is None:
            try:
                await client.put(b"/bench/ready", b"")
                return ""
            except kvstore.KVError as exc:
                error = str(exc)
                await asyncio.sleep(0.05)
        return error
    finally:
        await client.close()


def _wait_until_up(server: ServerProcess, deadline: float) -> None:
    error = asyncio.run(_probe(server, deadline))
    if server.proc.poll() is not None:
        raise ServerStartError(f"{server.name} exited with status {server.proc.returncode}:\n{server.log_tail()}")
    if error:
        tail = server.log_tail()
        raise ServerStartError(f"{server.name} did not answer within {READY_TIMEOUT:g} s ({error}):\n{tail}")


@contextlib.contextmanager
def kvs_server(cfg: Config) -> Iterator[ServerProcess]:
    """`python -m kvs serve` (fsync on) on a free port, in a fresh data directory."""
    with fresh_dir(cfg, "serve") as tmp:
        log_path = os.path.join(tmp, "server.log")
        args = [
            sys.executable,
            "-m",
            "kvs",
            "serve",
            "--data-dir",
            os.path.join(tmp, "data"),
            "--listen-client-urls",
            "http://127.0.0.1:0",
        ]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=child_env())
        server = ServerProcess("kvs serve", "", proc, log_path)
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while True:
                m = _KVS_READY.search(server.log_tail(50))
                if m:
                    server.endpoint = m[1]
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ServerStartError(f"kvs serve did not start:\n{server.log_tail()}")
                time.sleep(0.02)
            _wait_until_up(server, deadline)
            yield server
        finally:
            server.stop()


@contextlib.contextmanager
def etcd_server(cfg: Config, etcd: str, version: str) -> Iterator[ServerProcess]:
    """A single-member etcd on free loopback ports, in a fresh data directory."""
    with fresh_dir(cfg, "etcd") as tmp:
        log_path = os.path.join(tmp, "etcd.log")
        client_port, peer_port = free_port(), free_port()
        client_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        args = [
            etcd,
            "--name",
            "default",
            "--data-dir",
            os.path.join(tmp, "data"),
            "--listen-client-urls",
            client_url,
            "--advertise-client-urls",
            client_url,
            "--listen-peer-urls",
            peer_url,
            "--initial-advertise-peer-urls",
            peer_url,
            "--initial-cluster",
            f"default={peer_url}",
            "--logger",
            "zap",
            "--log-outputs",
            "stderr",
            "--log-level",
            "warn",
        ]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=child_env())
        server = ServerProcess(f"etcd {version}", f"127.0.0.1:{client_port}", proc, log_path)
        try:
            _wait_until_up(server, time.monotonic() + READY_TIMEOUT)
            yield server
        finally:
            server.stop()
