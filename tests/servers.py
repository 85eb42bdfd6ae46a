"""Real servers and etcd's own tools as subprocesses on 127.0.0.1, for tests.

    with KvsServer() as kvs:                 # or EtcdServer()
        client = kvstore.connect(kvs.endpoint)
        etcdctl(kvs.endpoint, "put", "k", "v")
        kvs.restart()                        # same data dir, same port: clients reconnect

The servers are the benchmark suite's (kvs/bench/servers.py): one helper starts them for
both. This module adds what only tests need: etcdctl, a long-running etcdctl whose output
is read as it comes, and a missing binary as a failed test with an install hint.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

from kvs.bench.servers import (
    INSTALL_HINT,
    READY_TIMEOUT,
    STOP_TIMEOUT,
    EtcdServer,
    KvsServer,
    LineReader,
    ServerError,
    ServerProcess,
    free_port,
    kill_at_exit,
    reaped,
    running,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
ETCDCTL_TIMEOUT = 30.0  # seconds one etcdctl command may take


def require_binary(name: str) -> str:
    """The path of `name` on PATH; fails the calling test with an install hint if it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(INSTALL_HINT.format(name=name), pytrace=False)
    return path


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
        kill_at_exit(self.proc)
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
        reaped(self.proc)
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
    "ServerProcess",
    "etcdctl",
    "free_port",
    "require_binary",
    "running",
]
