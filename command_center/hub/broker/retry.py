"""Waits on Redis with an end: retry a command until a deadline, and give up on one that gets no answer.

Why: a Redis that stops answering without closing its connections (a stopped process, a network
partition that sends no reset) otherwise holds a caller for as long as redis-py's per-read timeout, which
is 5 s since redis-py 8 and none before it. Callers that get ``BrokerUnavailable`` answer with 1013, and
clients come back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from command_center.hub.broker.base import BrokerUnavailable

#: Longest pause between attempts to reach Redis: a refused connection is cheap, and what waits (the
#: outbox relay's backlog, subscribers' catch-up) should start within a fraction of a second of its return.
RETRY_CAP = 0.25


async def retrying(what: str, call: Callable[[], Awaitable[Any]], seconds: float) -> Any:
    """Run ``call()`` until it succeeds or ``seconds`` pass; then raise ``BrokerUnavailable``.

    Each attempt must be bounded: the command batches are, and direct commands go through ``bounded``.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    delay = 0.05
    while True:
        try:
            return await call()
        except (RedisError, OSError) as exc:  # TimeoutError is an OSError
            if loop.time() + delay > deadline:
                raise BrokerUnavailable(f"Redis unavailable during {what}: {exc!r}") from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_CAP)


async def bounded(command: Awaitable[Any], seconds: float) -> Any:
    """A direct command, given up after ``seconds`` (batched commands are bounded as a batch)."""
    async with asyncio.timeout(seconds):
        return await command
