"""Servers as subprocesses on 127.0.0.1: `kvs serve` and a real etcd, for the benchmarks and the tests.

    with KvsServer() as kvs:                 # or EtcdServer(); a temporary data dir unless given one
        client = kvstore.connect(kvs.endpoint)
        kvs.restart()                        # same data dir, same port: clients reconnect
        kvs.cpu_seconds()                    # user + system CPU of the process so far

Every wait is bounded and driven by what the process prints (or, for etcd, by a Status
call that waits for the connection); nothing sleeps a fixed time. A server's process is
killed on `stop()`, on leaving the `with` block and, as a last resort, at interpreter
exit. The test suite uses these same classes (tests/servers.py adds etcdctl).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Self

import grpc

import h2grpc
import kvs
import kvstore
from kvs.bench.common import Config, fresh_dir

READY_TIMEOUT = 60.0  # seconds a server gets to start serving
STOP_TIMEOUT = 10.0  # seconds a server gets to exit after SIGTERM before SIGKILL

INSTALL_HINT = (
    "{name} is not installed: install Debian's etcd-server and etcd-client packages "
    "(`apt-get install etcd-server etcd-client`; `make test` installs them)"
)
_KVS_READY = re.compile(r"kvs serve: ready to serve client requests on (http://\S+?)[,\s]")
_TCP_ESTABLISHED = "01"


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


class LineReader:
    """Reads a text pipe on a daemon thread, one line at a time.

    Lines wait in a queue for `next_line()` while `collect` is true; the last ones are
    always kept for error messages (`tail()`), so a server's log pipe never fills up.
    """

    def __init__(self, pipe: IO[str], *, keep: int = 200) -> None:
        self._pipe = pipe
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._tail: collections.deque[str] = collections.deque(maxlen=keep)
        self._cond = threading.Condition()
        self.lines = 0  # lines read so far: a mark for `since()`
        self.collect = True
        self.eof = False
        self._thread = threading.Thread(target=self._run, name="line-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for line in self._pipe:
                with self._cond:
                    self._tail.append(line)
                    self.lines += 1
                    self._cond.notify_all()
                if self.collect:
                    self._queue.put(line)
        except (OSError, ValueError):
            pass  # the pipe was closed under us
        finally:
            with self._cond:
                self.eof = True
                self._cond.notify_all()
            self._queue.put(None)

    def next_line(self, timeout: float) -> str | None:
        """The next line (with its newline); None at end of file. Raises TimeoutError."""
        try:
            line = self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            raise TimeoutError(f"no output line within {timeout:.1f}s") from None
        if line is None:
            self._queue.put(None)  # stay at EOF for later calls
        return line

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """Consume lines until one matches `pattern`; raises TimeoutError or EOFError."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.next_line(deadline - time.monotonic())
            if line is None:
                raise EOFError("the stream ended before a line matched")
            m = pattern.search(line)
            if m is not None:
                return m

    def tail(self) -> str:
        return "".join(self._tail)

    def since(self, mark: int) -> list[str]:
        """The lines read after the first `mark` (`self.lines` then), as far as they are kept."""
        with self._cond:
            kept = list(self._tail)
            return kept[max(0, len(kept) - (self.lines - mark)) :]

    def wait_since(self, mark: int, pattern: re.Pattern[str], timeout: float) -> str | None:
        """Wait until a line after `mark` matches `pattern`; that line, or None at the timeout or EOF."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                kept = list(self._tail)
                for line in kept[max(0, len(kept) - (self.lines - mark)) :]:
                    if pattern.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    return None
                self._cond.wait(left)

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)


class ServerError(RuntimeError):
    """A server did not start (or cannot be), with the end of its log."""


# Every process started here until it is reaped, so none outlives the run.
_LIVE: set[ServerProcess] = set()
_LIVE_PROCS: set[subprocess.Popen[bytes]] = set()


def kill_at_exit(proc: subprocess.Popen[bytes]) -> None:
    """Kill `proc` when the interpreter exits, unless `reaped(proc)` was said first."""
    _LIVE_PROCS.add(proc)


def reaped(proc: subprocess.Popen[bytes]) -> None:
    """`proc` has exited and been waited for: nothing to kill at exit."""
    _LIVE_PROCS.discard(proc)


@atexit.register
def _kill_leftovers() -> None:
    """A last resort for processes a crashed test run did not stop."""
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.kill()
    for proc in list(_LIVE_PROCS):
        with contextlib.suppress(Exception):
            proc.kill()


class ServerProcess:
    """A server process with a data directory, started and stopped by the subclasses' rules."""

    name = "server"

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        ready_timeout: float = READY_TIMEOUT,
        log_lines: int = 200,
    ) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"{self.name.replace(' ', '-')}-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        self.ready_timeout = ready_timeout
        self.log_lines = log_lines  # the last lines of its log kept (`log_tail()`, `log.since()`)
        self.proc: subprocess.Popen[str] | None = None
        self.log: LineReader | None = None
        self.port = 0
        self._deadline = 0.0

    # ------------------------------------------------------------ public interface

    @property
    def endpoint(self) -> str:
        """`127.0.0.1:PORT`, for kvstore.connect() and etcdctl --endpoints."""
        if not self.port:
            raise RuntimeError(f"{self.name} is not started")
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError(f"{self.name} is not started")
        return self.proc.pid

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the process has used so far, every thread."""
        return process_cpu_seconds(self.pid)

    def connections(self) -> int:
        """Established TCP connections to its client port."""
        return established_connections(self.port)

    def start(self) -> Self:
        """Start the process and wait until it serves; on failure it is killed and ServerError raised."""
        self._begin_start()
        self._finish_start()
        return self

    def _begin_start(self) -> None:
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        self._spawn()
        self._deadline = time.monotonic() + self.ready_timeout

    def _finish_start(self) -> None:
        try:
            self._wait_ready(self._deadline)
        except (TimeoutError, EOFError, ServerError) as exc:
            log = self.log_tail()
            self.kill()
            raise ServerError(f"{self.name} did not become ready ({exc}); its log ends with:\n{log}") from None
        except BaseException:
            self.kill()
            raise
        assert self.log is not None
        self.log.collect = False  # from now on only the tail is kept

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, then wait; SIGKILL if it has not exited after `timeout`. The exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._reap()
        return proc.returncode

    def kill(self) -> int | None:
        """SIGKILL (a crash): nothing is flushed or closed."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        self._reap()
        return proc.returncode

    def restart(self) -> Self:
        """Stop (if running) and start again on the same data directory and port."""
        self.stop()
        return self.start()

    def close(self) -> None:
        """Stop and remove the data directory if this object made it."""
        try:
            self.stop()
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None

    def log_tail(self) -> str:
        return self.log.tail() if self.log else ""

    def __enter__(self) -> Self:
        try:
            if not self.running:
                self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ for subclasses

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _wait_ready(self, deadline: float) -> None:
        raise NotImplementedError

    def _spawn(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            self._argv(),
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # a Ctrl-C in the terminal reaches only the parent
        )
        _LIVE.add(self)
        assert self.proc.stderr is not None
        self.log = LineReader(self.proc.stderr, keep=self.log_lines)

    def _reap(self) -> None:
        if self.log is not None:
            self.log.join()
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
        _LIVE.discard(self)

    def _check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise ServerError(f"{self.name} exited with code {self.proc.returncode}")


@contextlib.contextmanager
def running(*servers: ServerProcess) -> Iterator[None]:
    """Start several servers side by side (each waits for the others' startup in parallel),
    and close them all on leaving the block, whatever happens."""
    try:
        for server in servers:
            server._begin_start()
        for server in servers:
            server._finish_start()
        yield
    finally:
        for server in servers:
            with contextlib.suppress(Exception):
                server.close()


class KvsServer(ServerProcess):
    """`python -m kvs serve` on 127.0.0.1; port 0 on first start, the same port after."""

    name = "kvs serve"

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        args: Sequence[str] = (),
        ready_timeout: float = READY_TIMEOUT,
        log_lines: int = 200,
    ) -> None:
        super().__init__(data_dir, ready_timeout=ready_timeout, log_lines=log_lines)
        self.args = list(args)

    def _argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "kvs",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--listen-client-urls",
            f"http://127.0.0.1:{self.port}",
            *self.args,
        ]

    def _wait_ready(self, deadline: float) -> None:
        assert self.log is not None
        m = self.log.wait_for(_KVS_READY, deadline - time.monotonic())
        port = int(m.group(1).rsplit(":", 1)[1].rstrip("/"))
        if self.port and port != self.port:
            raise ServerError(f"restarted on port {port}, expected {self.port}")
        self.port = port


class EtcdServer(ServerProcess):
    """A single-member etcd on loopback ports picked when it is made."""

    name = "etcd"

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        args: Sequence[str] = (),
        ready_timeout: float = READY_TIMEOUT,
        binary: str | None = None,
        name: str = "etcd",
    ) -> None:
        binary = binary or find_etcd()
        if binary is None:
            raise ServerError(INSTALL_HINT.format(name="etcd"))
        self.binary = binary
        self.name = name
        super().__init__(data_dir, ready_timeout=ready_timeout)
        self.args = list(args)
        self.port = free_port()
        self.peer_port = free_port()
        while self.peer_port == self.port:
            self.peer_port = free_port()

    def _argv(self) -> list[str]:
        client, peer = f"http://127.0.0.1:{self.port}", f"http://127.0.0.1:{self.peer_port}"
        return [
            self.binary,
            "--name",
            "default",
            "--data-dir",
            str(self.data_dir / "etcd"),
            "--listen-client-urls",
            client,
            "--advertise-client-urls",
            client,
            "--listen-peer-urls",
            peer,
            "--initial-advertise-peer-urls",
            peer,
            "--initial-cluster",
            f"default={peer}",
            *self.args,
        ]

    def _wait_ready(self, deadline: float) -> None:
        """Ready when Maintenance.Status answers with a leader.

        Each Status call waits for the connection (wait_for_ready), so the loop turns only
        when the server answers without a leader yet; it then waits for etcd's next log line
        (it logs the election), never a fixed time.
        """
        from kvstore.pb import rpc_pb2, rpc_pb2_grpc

        assert self.log is not None
        with grpc.insecure_channel(self.endpoint) as channel:
            stub = rpc_pb2_grpc.MaintenanceStub(channel)  # type: ignore[no-untyped-call]
            while True:
                self._check_alive()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("etcd did not elect itself leader in time")
                try:
                    status = stub.Status(rpc_pb2.StatusRequest(), timeout=min(left, 2.0), wait_for_ready=True)
                    if status.leader:
                        return
                except grpc.RpcError:
                    pass
                with contextlib.suppress(TimeoutError):
                    self.log.next_line(min(deadline - time.monotonic(), 1.0))


# ------------------------------------------------------------ for the benchmarks

QUIET_ETCD = ("--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn")


@contextlib.contextmanager
def kvs_server(cfg: Config, args: Sequence[str] = ()) -> Iterator[KvsServer]:
    """`kvs serve ARGS` (fsync on) on a free port, in a fresh data directory under the bench's."""
    with fresh_dir(cfg, "serve") as tmp, KvsServer(Path(tmp) / "data", args=args) as server:
        yield server


@contextlib.contextmanager
def etcd_server(cfg: Config, etcd: str, version: str) -> Iterator[EtcdServer]:
    """A single-member etcd on free loopback ports, in a fresh data directory, logging warnings only."""
    with fresh_dir(cfg, "etcd") as tmp, EtcdServer(tmp, args=QUIET_ETCD, binary=etcd, name=f"etcd {version}") as server:
        yield server
