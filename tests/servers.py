"""Real servers as subprocesses on 127.0.0.1, for tests: `kvs serve`, Debian's etcd, and etcdctl.

    with KvsServer() as kvs:                 # or EtcdServer()
        client = kvstore.connect(kvs.endpoint)
        etcdctl(kvs.endpoint, "put", "k", "v")
        kvs.restart()                        # same data dir, same port: clients reconnect

Every wait is bounded and driven by what the process prints (or, for etcd, by a Status
call that waits for the connection); nothing sleeps a fixed time. A server's process is
killed on `stop()`, on leaving the `with` block and, as a last resort, at interpreter exit.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import json
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
from typing import IO, Any, Self

import grpc
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60.0  # seconds a server gets to start serving
STOP_TIMEOUT = 10.0  # seconds a server gets to exit after SIGTERM before SIGKILL
ETCDCTL_TIMEOUT = 30.0  # seconds one etcdctl command may take

_INSTALL_HINT = (
    "{name} is not installed: install Debian's etcd-server and etcd-client packages "
    "(`apt-get install etcd-server etcd-client`; `make test` installs them)"
)
_KVS_READY = re.compile(r"kvs serve: ready to serve client requests on (http://\S+?)[,\s]")


def require_binary(name: str) -> str:
    """The path of `name` on PATH; fails the calling test with an install hint if it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(_INSTALL_HINT.format(name=name), pytrace=False)
    return path


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LineReader:
    """Reads a text pipe on a daemon thread, one line at a time.

    Lines wait in a queue for `next_line()` while `collect` is true; the last ones are
    always kept for error messages (`tail()`), so a server's log pipe never fills up.
    """

    def __init__(self, pipe: IO[str], *, keep: int = 200) -> None:
        self._pipe = pipe
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._tail: collections.deque[str] = collections.deque(maxlen=keep)
        self.collect = True
        self.eof = False
        self._thread = threading.Thread(target=self._run, name="line-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for line in self._pipe:
                self._tail.append(line)
                if self.collect:
                    self._queue.put(line)
        except (OSError, ValueError):
            pass  # the pipe was closed under us
        finally:
            self.eof = True
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

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)


class ServerError(RuntimeError):
    """A server did not start, with the end of its log."""


# Every process started here until it is reaped, so none outlives the test run.
_LIVE: set[_Subprocess] = set()
_LIVE_PROCS: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    """A last resort for processes a crashed test run did not stop."""
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.kill()
    for proc in list(_LIVE_PROCS):
        with contextlib.suppress(Exception):
            proc.kill()


class _Subprocess:
    """A server process with a data directory, started and stopped by the subclasses' rules."""

    name = "server"

    def __init__(self, data_dir: str | os.PathLike[str] | None = None, *, ready_timeout: float = READY_TIMEOUT) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"{self.name}-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir)
        self.ready_timeout = ready_timeout
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
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,  # a Ctrl-C in the terminal reaches pytest only
        )
        _LIVE.add(self)
        assert self.proc.stderr is not None
        self.log = LineReader(self.proc.stderr)

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
def running(*servers: _Subprocess) -> Iterator[None]:
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


class KvsServer(_Subprocess):
    """`python -m kvs serve` on 127.0.0.1; port 0 on first start, the same port after."""

    name = "kvs-serve"

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        args: Sequence[str] = (),
        ready_timeout: float = READY_TIMEOUT,
    ) -> None:
        super().__init__(data_dir, ready_timeout=ready_timeout)
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


class EtcdServer(_Subprocess):
    """A single-member etcd on loopback ports picked when it is made."""

    name = "etcd"

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        args: Sequence[str] = (),
        ready_timeout: float = READY_TIMEOUT,
    ) -> None:
        self.binary = require_binary("etcd")
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


def etcdctl(
    endpoint: str, *args: str, input: str | None = None, timeout: float = ETCDCTL_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run `etcdctl --endpoints=ENDPOINT ARGS...` (API v3) and return what it printed.

    Does not check the exit code: tests assert on it, and on stdout / stderr.
    """
    binary = require_binary("etcdctl")
    return subprocess.run(
        [binary, f"--endpoints={endpoint}", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_etcdctl_env(),
        check=False,
    )


def _etcdctl_env() -> dict[str, str]:
    return {**os.environ, "ETCDCTL_API": "3"}


class OutputReader:
    """Reads a binary pipe on a daemon thread into a buffer that callers consume.

    etcdctl's `-w json` watch output is a stream of JSON documents with no separator, so
    besides lines this hands out whole JSON values (`next_json`).
    """

    def __init__(self, pipe: IO[bytes]) -> None:
        self._pipe = pipe
        self._buffer = bytearray()
        self._cond = threading.Condition()
        self.eof = False
        self._thread = threading.Thread(target=self._run, name="output-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        fd = self._pipe.fileno()
        try:
            while chunk := os.read(fd, 65536):
                with self._cond:
                    self._buffer += chunk
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            with self._cond:
                self.eof = True
                self._cond.notify_all()

    def _take(self, parse: Any, timeout: float) -> Any:
        """Wait until `parse(buffer)` returns (value, consumed bytes) rather than None."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = parse(self._buffer)
                if found is not None:
                    value, used = found
                    del self._buffer[:used]
                    return value
                if self.eof:
                    raise EOFError(f"the stream ended; unparsed output: {bytes(self._buffer)!r}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"nothing complete within {timeout:.1f}s; pending: {bytes(self._buffer)!r}")
                self._cond.wait(left)

    def next_line(self, timeout: float) -> str:
        """The next line, without its newline."""

        def parse(buf: bytearray) -> tuple[str, int] | None:
            end = buf.find(b"\n")
            return None if end < 0 else (buf[:end].decode(errors="replace"), end + 1)

        result: str = self._take(parse, timeout)
        return result

    def next_json(self, timeout: float) -> Any:
        """The next JSON value (objects may follow each other with no separator)."""
        decoder = json.JSONDecoder()

        def parse(buf: bytearray) -> tuple[Any, int] | None:
            text = buf.decode(errors="replace")
            start = len(text) - len(text.lstrip())
            if start == len(text):
                return None
            try:
                value, end = decoder.raw_decode(text, start)
            except json.JSONDecodeError:
                return None  # incomplete so far
            return value, len(text[:end].encode())

        return self._take(parse, timeout)

    def text(self) -> str:
        """Everything not consumed yet (for error messages)."""
        with self._cond:
            return self._buffer.decode(errors="replace")

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)


class EtcdctlProcess:
    """A long-running etcdctl (e.g. `watch`) whose output is read as it comes.

    Use as a context manager: the process is terminated (then killed) on exit.
    """

    def __init__(self, endpoint: str, *args: str) -> None:
        binary = require_binary("etcdctl")
        self.proc = subprocess.Popen(
            [binary, f"--endpoints={endpoint}", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_etcdctl_env(),
            start_new_session=True,
        )
        _LIVE_PROCS.add(self.proc)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.stdout = OutputReader(self.proc.stdout)
        self.stderr = OutputReader(self.proc.stderr)

    def _explain(self, exc: Exception) -> str:
        return f"etcdctl: {exc}; exit code {self.proc.poll()}; stderr:\n{self.stderr.text()}"

    def next_line(self, timeout: float = ETCDCTL_TIMEOUT) -> str:
        """The next line it printed (without the newline); raises if it ends or times out."""
        try:
            return self.stdout.next_line(timeout)
        except (TimeoutError, EOFError) as exc:
            raise type(exc)(self._explain(exc)) from None

    def next_json(self, timeout: float = ETCDCTL_TIMEOUT) -> Any:
        """The next JSON document it printed (`-w json`)."""
        try:
            return self.stdout.next_json(timeout)
        except (TimeoutError, EOFError) as exc:
            raise type(exc)(self._explain(exc)) from None

    def stop(self) -> int:
        """Terminate (SIGTERM, SIGKILL if needed) and return the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stdout.join()
        self.stderr.join()
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        _LIVE_PROCS.discard(self.proc)
        return self.proc.returncode

    def __enter__(self) -> EtcdctlProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = [
    "READY_TIMEOUT",
    "REPO_ROOT",
    "EtcdServer",
    "EtcdctlProcess",
    "KvsServer",
    "LineReader",
    "OutputReader",
    "ServerError",
    "etcdctl",
    "free_port",
    "require_binary",
    "running",
]
