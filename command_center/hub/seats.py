"""Seats: how many hub connections each user holds, counted across every process that shares the broker.

The hub admits a connection only if its user holds fewer than ``ws_max_connections_per_user`` (close 4429
otherwise, DESIGN.md section 4). A count kept in each process alone would let N processes admit N times
the cap, so with the Redis broker the seats live in Redis:

- ``cc:hub:seats:{user id}`` a sorted set of ``<process>:<connection id>`` scored by the time (ms) the
  seat lapses unless renewed. Taking a seat is one Lua script (drop lapsed seats, count, add if below the
  cap), so two processes cannot both take the last one.
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
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.asyncio.connection import BlockingConnectionPool
from redis.exceptions import RedisError

from command_center.hub.broker.base import Broker
from command_center.hub.broker.batch import CommandBatcher

log = logging.getLogger(__name__)

_PREFIX = "cc:hub:seats:"
#: Redis connections for seats: one batch of takes and give-backs in flight, a renewal, a script load.
_POOL_SIZE = 4
#: How long a seat command may wait for Redis before the hub admits on its own count.
_REDIS_TIMEOUT = 1.0

# KEYS: seats.  ARGV: now ms, lapse ms, member, limit, key ttl ms.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
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
        # A small pool that makes a command wait for a connection: the seats of a step go in one pipeline
        # (``CommandBatcher``), so a reconnect storm needs no more. redis-py's default pool instead opened a
        # connection per concurrent seat and raised "Too many connections" past 100, which made the hub
        # admit on its own count during every storm and log the outage and the recovery each time.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=_POOL_SIZE,
            timeout=_REDIS_TIMEOUT,
            decode_responses=True,
            socket_connect_timeout=_REDIS_TIMEOUT,
            socket_timeout=_REDIS_TIMEOUT,
        )
        self._redis: Redis = Redis.from_pool(pool)  # closes the pool with the client
        self._command = CommandBatcher(self._redis)
        self._take = self._redis.register_script(_TAKE)
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

    def _lapse_ms(self) -> int:
        return int((self.clock() + self.lease_seconds) * 1000)

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
                pipe = self._redis.pipeline(transaction=False)
                for user_id, member in held:
                    pipe.zrem(f"{_PREFIX}{user_id}", member)
                await asyncio.wait_for(pipe.execute(), _REDIS_TIMEOUT)
        await self._redis.aclose()

    async def take(self, user_id: int, connection_id: str, limit: int) -> bool:
        member = self._member(connection_id)
        now_ms = int(self.clock() * 1000)
        lease_ms = int(self.lease_seconds * 1000)
        args = [now_ms, self._lapse_ms(), member, limit, 2 * lease_ms]
        try:
            # asyncio.timeout, not wait_for: no extra task per connection (a storm takes thousands).
            async with asyncio.timeout(_REDIS_TIMEOUT):
                taken = await self._command.run_script(self._take, [f"{_PREFIX}{user_id}"], args)
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
                await self._command("ZREM", f"{_PREFIX}{user_id}", member)
        except (RedisError, OSError, TimeoutError) as exc:  # not renewed any more: it lapses
            log.debug("hub: giving back seat %s failed (%s); it lapses", member, exc)

    async def renew(self) -> None:
        """Push every seat of this process one lease ahead (and put back any that lapsed)."""
        async with self._lock:
            if not self._held:
                return
            lapse = self._lapse_ms()
            ttl_ms = int(2 * self.lease_seconds * 1000)
            pipe = self._redis.pipeline(transaction=False)
            for user_id, member in self._held:
                pipe.zadd(f"{_PREFIX}{user_id}", {member: lapse})
                pipe.pexpire(f"{_PREFIX}{user_id}", ttl_ms)
            try:
                await asyncio.wait_for(pipe.execute(), _REDIS_TIMEOUT * 2)
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
