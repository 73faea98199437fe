"""Seats: how many hub connections each user holds, counted across every process that shares the broker.

The hub admits a connection only if its user holds fewer than ``ws_max_connections_per_user`` (close 4429
otherwise, DESIGN.md section 4). A count kept in each process alone would let N processes admit N times
the cap, so with the Redis broker the seats live in Redis:

- ``cc:hub:seats:{user id}`` a sorted set of ``<process>:<connection id>`` scored by the time (ms) the
  seat lapses unless renewed. Taking a seat is atomic in a Lua script (drop lapsed seats, count, add if
  below the cap), so two processes cannot both take the last one. The takes, give-backs and renewals of
  an event-loop step go to Redis as one call of that script, in the order they were asked for: a reconnect
  storm's thousands of seats cost a few calls instead of a command each (RESULTS.md, 2026-12-02).
- Each process renews its own seats every third of ``ws_connection_lease_seconds``. A process killed with
  ``kill -9`` renews nothing, so its seats lapse within one lease (three renewal periods) and never lock a
  user out for good. A live process whose seats lapsed (it stalled for a whole lease, or Redis lost them)
  puts them back at its next renewal, since they are still real connections.
- If Redis cannot be reached, the hub fails open: it admits on this process's own count (which it always
  checks first) and logs it once per outage. Refusing every connection while Redis is down would shut
  the command room out of the hub for an abuse limit; the renewal puts the seats taken meanwhile into
  Redis once it is back, so the cluster-wide count is right again within one renewal period.

Seat times are compared against the processes' wall clocks (the scores are written by one process and
read by another), so the servers' clocks must agree to well within a lease, as NTP keeps them.

With the memory broker there is one process, and its own count is the whole count (``LocalSeats``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.connection import BlockingConnectionPool
from redis.exceptions import RedisError

from command_center.hub.broker.base import Broker
from command_center.hub.broker.batch import StepBatcher, evalsha

log = logging.getLogger(__name__)

_PREFIX = "cc:hub:seats:"
#: Redis connections for seats: one batch in flight, the shutdown's give-backs, a script load.
_POOL_SIZE = 4
#: How long a seat command may wait for Redis before the hub admits on its own count.
_REDIS_TIMEOUT = 1.0

#: A seat operation: ``(kind, user id, member, limit)``; kind ``t`` takes (1 if taken, 0 if the user
#: holds ``limit`` already), ``r`` renews (puts back a lapsed seat), ``g`` gives back.
SeatOp = tuple[str, int, str, int]

# KEYS: the seats of each operation's user.  ARGV: now ms, lapse ms, key ttl ms, then for each operation
# its kind, member and limit. One result per operation, in order; each is what it would be alone.
_SEATS = """
local now, lapse, ttl = ARGV[1], ARGV[2], ARGV[3]
local results = {}
for i, key in ipairs(KEYS) do
  local kind, member, limit = ARGV[3 * i + 1], ARGV[3 * i + 2], ARGV[3 * i + 3]
  local result = 1
  if kind == 't' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    if not redis.call('ZSCORE', key, member) then
      if redis.call('ZCARD', key) >= tonumber(limit) then
        result = 0
      else
        redis.call('ZADD', key, lapse, member)
        redis.call('PEXPIRE', key, ttl)
      end
    end
  elseif kind == 'r' then
    redis.call('ZADD', key, lapse, member)
    redis.call('PEXPIRE', key, ttl)
  else
    redis.call('ZREM', key, member)
  end
  results[i] = result
end
return results
"""


class Seats(Protocol):
    """Seats beyond what this process counts itself (the hub checks its own connections first)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def take(self, user_id: int, connection_id: str, limit: int) -> bool:
        """Take a seat for the connection; False if the user already holds ``limit`` anywhere."""
        ...

    async def give_back(self, user_id: int, connection_id: str) -> None: ...


class LocalSeats:
    """One process (the memory broker): the hub's own count is the whole count."""

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def take(self, user_id: int, connection_id: str, limit: int) -> bool:
        return True

    async def give_back(self, user_id: int, connection_id: str) -> None:
        return None


class RedisSeats:
    """Seats of every process in Redis, renewed by their process, lapsing when it dies."""

    def __init__(
        self,
        url: str,
        *,
        lease_seconds: float,
        clock: Callable[[], float] = time.time,
        process: str | None = None,
    ) -> None:
        # A small pool that makes a command wait for a connection: the seats of a step go in one script
        # call, so a reconnect storm needs no more. redis-py's default pool instead opened a connection per
        # concurrent seat and raised "Too many connections" past 100, which made the hub admit on its own
        # count during every storm and log the outage and the recovery each time. Each batch is timed as
        # a whole (``_send``): redis-py's own per-read timeout differs by version (none before 8).
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=_POOL_SIZE,
            timeout=_REDIS_TIMEOUT,
            decode_responses=True,
            socket_connect_timeout=_REDIS_TIMEOUT,
        )
        self._redis: Redis = Redis.from_pool(pool)  # closes the pool with the client
        self._script = self._redis.register_script(_SEATS)
        self._batch: StepBatcher[SeatOp, int] = StepBatcher(self._send)
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.process = process or uuid.uuid4().hex[:12]
        #: This process's seats: (user id, member).
        self._held: set[tuple[int, str]] = set()
        # A renewal and a give-back never interleave: a renewal must not put back a seat just given back.
        self._lock = asyncio.Lock()
        self._renewer: asyncio.Task[None] | None = None
        self._failing = False

    def _member(self, connection_id: str) -> str:
        return f"{self.process}:{connection_id}"

    async def _send(self, ops: Sequence[SeatOp]) -> list[int]:
        """One script call for a batch of operations (``StepBatcher``'s sender), timed as a whole."""
        now_ms = int(self.clock() * 1000)
        lapse_ms = now_ms + int(self.lease_seconds * 1000)
        keys = [f"{_PREFIX}{user_id}" for _, user_id, _, _ in ops]
        args: list[Any] = [now_ms, lapse_ms, int(2 * self.lease_seconds * 1000)]
        for kind, _, member, limit in ops:
            args += (kind, member, limit)
        async with asyncio.timeout(_REDIS_TIMEOUT):
            results: list[int] = await evalsha(self._redis, self._script, keys, args)
        return results

    async def start(self) -> None:
        self._renewer = asyncio.create_task(self._renew_forever(), name="hub-seats-renewer")

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        held, self._held = list(self._held), set()
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            if held:
                await asyncio.wait_for(
                    self._batch_all([("g", user_id, member, 0) for user_id, member in held]),
                    _REDIS_TIMEOUT,
                )
        await self._redis.aclose()

    async def _batch_all(self, ops: list[SeatOp]) -> list[int]:
        """Submit ``ops`` in order (in as many batches as they need) and wait for all of them."""
        return list(await asyncio.gather(*[self._batch.submit(op) for op in ops]))

    async def take(self, user_id: int, connection_id: str, limit: int) -> bool:
        member = self._member(connection_id)
        try:
            # asyncio.timeout, not wait_for: no extra task per connection (a storm takes thousands).
            async with asyncio.timeout(_REDIS_TIMEOUT):
                taken = await self._batch.submit(("t", user_id, member, limit))
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed(exc)
        else:
            self._recovered()
            if not taken:
                return False
        # Held (also when Redis was unreachable): the next renewal writes it to Redis.
        self._held.add((user_id, member))
        return True

    async def give_back(self, user_id: int, connection_id: str) -> None:
        member = self._member(connection_id)
        async with self._lock:  # a renewal under way (which may hold this seat) ends first
            if (user_id, member) not in self._held:
                return
            self._held.discard((user_id, member))
        # Outside the lock: with Redis slow, closing connections must not queue behind one another.
        try:
            async with asyncio.timeout(_REDIS_TIMEOUT):
                await self._batch.submit(("g", user_id, member, 0))
        except (RedisError, OSError, TimeoutError) as exc:  # not renewed any more: it lapses
            log.debug("hub: giving back seat %s failed (%s); it lapses", member, exc)

    async def renew(self) -> None:
        """Push every seat of this process one lease ahead (and put back any that lapsed)."""
        async with self._lock:
            if not self._held:
                return
            try:
                await asyncio.wait_for(
                    self._batch_all([("r", user_id, member, 0) for user_id, member in self._held]),
                    _REDIS_TIMEOUT * 2,
                )
            except (RedisError, OSError, TimeoutError) as exc:
                self._failed(exc)
            else:
                self._recovered()

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            await self.renew()

    def _failed(self, exc: BaseException) -> None:
        if not self._failing:
            self._failing = True
            log.warning(
                "hub: Redis unreachable for the connection cap (%s); admitting on this process's count",
                str(exc) or type(exc).__name__,  # a timeout says nothing of itself
            )

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            log.warning("hub: Redis reachable again; the connection cap counts every process again")


def seats_for(broker: Broker, lease_seconds: float) -> Seats:
    """Cluster-wide seats when the broker is Redis; this process's own count otherwise."""
    url = getattr(broker, "url", None)
    if isinstance(url, str):
        return RedisSeats(url, lease_seconds=lease_seconds)
    return LocalSeats()
