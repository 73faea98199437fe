"""Presence over Redis: one hash per channel of connection -> user, with an expiry each process refreshes.

``cc:hub:{C}:presence`` maps ``<process>:<connection>`` to ``{"x": expiry ms, "u": user}``. Each process
refreshes its own entries every third of the time to live, so a killed process's entries expire on their
own and readers skip (and delete) expired ones. A process's joins, leaves and refreshes go out in order,
those of one event-loop step as one ``HSET`` and one ``HDEL`` per channel: a reconnect storm's thousands of
joins cost a few commands, not one each (benchmarks/RESULTS.md, 2026-12-02).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from command_center.hub.broker.base import unique_users
from command_center.hub.broker.batch import StepBatcher
from command_center.hub.broker.retry import bounded, retrying
from command_center.hub.protocol import dumps

log = logging.getLogger(__name__)

#: Most presence writes in one batch (one pipeline of an ``HSET`` and an ``HDEL`` per channel).
_BATCH = 2048
#: ``(presence hash key, member, value)``; a value of None deletes the member.
PresenceWrite = tuple[str, str, str | None]


class RedisPresence:
    """This process's presence entries, written in order and refreshed while it lives."""

    def __init__(
        self,
        redis: Redis,
        *,
        process: str,
        key: Callable[[str], str],
        ttl_seconds: float,
        retry_seconds: float,
    ) -> None:
        self._redis = redis
        self._process = process
        self._key = key  # channel -> its presence hash
        self._ttl = ttl_seconds
        self._retry_seconds = retry_seconds
        self._entries: dict[tuple[str, str], str] = {}  # (channel, member) -> user json
        self._writes: StepBatcher[PresenceWrite, None] = StepBatcher(self._write, limit=_BATCH)

    def _value(self, user_json: str) -> str:
        return f'{{"x":{int((time.time() + self._ttl) * 1000)},"u":{user_json}}}'

    async def _write(self, writes: Sequence[PresenceWrite]) -> list[None]:
        """A batch of writes (``StepBatcher``'s sender): per channel one ``HSET`` of the members joining or
        refreshed and one ``HDEL`` of those leaving, in one pipeline.

        The last write of a member in the batch is the one sent, which is what the writes would leave
        behind one by one: writes to different members never depend on each other.
        """
        final: dict[str, dict[str, str | None]] = {}
        for key, member, value in writes:
            final.setdefault(key, {})[member] = value
        pipe = self._redis.pipeline(transaction=False)
        for key, members in final.items():
            joined = [
                part for member, value in members.items() if value is not None for part in (member, value)
            ]
            if joined:
                pipe.execute_command("HSET", key, *joined)
            left = [member for member, value in members.items() if value is None]
            if left:
                pipe.execute_command("HDEL", key, *left)
        await bounded(pipe.execute(), self._retry_seconds)
        return [None] * len(writes)

    async def join(self, channel: str, connection: str, user: dict[str, Any]) -> None:
        user_json = dumps(user)
        member = f"{self._process}:{connection}"
        self._entries[(channel, member)] = user_json
        with contextlib.suppress(RedisError, OSError):
            await self._writes.submit((self._key(channel), member, self._value(user_json)))

    async def leave(self, channel: str, connection: str) -> None:
        member = f"{self._process}:{connection}"
        self._entries.pop((channel, member), None)
        with contextlib.suppress(RedisError, OSError):
            await self._writes.submit((self._key(channel), member, None))

    async def users(self, channel: str) -> list[dict[str, Any]]:
        """Who is present on ``channel`` across every process (``BrokerUnavailable`` past the retries)."""
        key = self._key(channel)
        entries = await retrying(
            "presence", lambda: bounded(self._redis.hgetall(key), self._retry_seconds), self._retry_seconds
        )
        now = int(time.time() * 1000)
        users, expired = [], []
        for member, raw in entries.items():
            value = json.loads(raw)
            if value["x"] < now:
                expired.append(member)
            else:
                users.append(value["u"])
        if expired:
            with contextlib.suppress(RedisError, OSError):
                await bounded(self._redis.hdel(key, *expired), self._retry_seconds)
        return unique_users(users)

    async def refresh_forever(self) -> None:
        """Refresh this process's entries every third of their time to live."""
        while True:
            await asyncio.sleep(self._ttl / 3)
            if not self._entries:
                continue
            # Through the same batches as joins and leaves, so a refresh never overtakes a later leave.
            refreshed = [
                self._writes.submit((self._key(channel), member, self._value(user)))
                for (channel, member), user in self._entries.items()
            ]
            try:
                await asyncio.gather(*refreshed)
            except (RedisError, OSError) as exc:
                log.warning("hub: presence heartbeat failed: %s", exc)

    async def clear(self) -> None:
        """Delete this process's entries (at shutdown); a Redis that does not answer lets them expire."""
        with contextlib.suppress(RedisError, OSError):
            if self._entries:
                pipe = self._redis.pipeline(transaction=False)
                for channel, member in self._entries:
                    pipe.hdel(self._key(channel), member)
                await bounded(pipe.execute(), self._retry_seconds)
