"""Reads retried while the server is unavailable (etcd clientv3 retries idempotent calls)."""

from __future__ import annotations

import pytest

from kvstore.client.retry import retry_while_unavailable
from kvstore.errors import UnavailableError


async def test_a_read_is_retried_until_the_server_answers() -> None:
    """Unavailable twice, then an answer: the caller sees only the answer, after three tries."""
    tries = []

    async def attempt() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise UnavailableError("etcdclient: no connection")
        return "ok"

    assert await retry_while_unavailable(attempt, UnavailableError, timeout=10) == "ok"
    assert len(tries) == 3


async def test_the_last_error_is_raised_at_the_timeout_and_others_at_once() -> None:
    """A retry that would pass the timeout is not made; errors other than unavailable are not retried."""
    tries = []

    async def down() -> None:
        tries.append(1)
        raise UnavailableError("etcdclient: no connection")

    with pytest.raises(UnavailableError):
        await retry_while_unavailable(down, UnavailableError, timeout=0.01)
    assert len(tries) == 1

    async def broken() -> None:
        tries.append(2)
        raise ValueError("not retried")

    with pytest.raises(ValueError):
        await retry_while_unavailable(broken, UnavailableError, timeout=None)
    assert tries.count(2) == 1
