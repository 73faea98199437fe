"""The per-user connection cap across processes (hub/seats.py): seats in Redis, renewed, lapsing when a
process dies, and admitting on the process's own count while Redis is unreachable.

The first tests drive ``RedisSeats`` with an injected clock (two instances are two processes); the last
ones run two real ``command-center serve`` processes on one Redis.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from command_center.hub.seats import RedisSeats
from tests.command_center.hub.app_process import AppProcess
from tests.command_center.hub.conftest import RedisServer
from tests.command_center.hub.helpers import free_port

LEASE = 30.0


class Clock:
    """The wall clock the seats read, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def processes(redis_url: str, clock: Clock) -> AsyncIterator[tuple[RedisSeats, RedisSeats]]:
    """Two processes' seats on the test Redis (their renewers are not started: the test renews)."""
    made = (
        RedisSeats(redis_url, lease_seconds=LEASE, clock=clock, process="a"),
        RedisSeats(redis_url, lease_seconds=LEASE, clock=clock, process="b"),
    )
    yield made
    for seats in made:
        await seats.close()


def _user() -> int:
    """A user id of this test alone (the test Redis is shared)."""
    return int(uuid.uuid4().int % 10**9) + 10**9


async def test_the_cap_counts_every_process(processes: tuple[RedisSeats, RedisSeats]) -> None:
    a, b = processes
    user = _user()
    assert await a.take(user, "c1", 2)
    assert await a.take(user, "c2", 2)
    assert not await b.take(user, "c1", 2), "a third connection on another process was admitted"
    await a.give_back(user, "c1")
    assert await b.take(user, "c1", 2)
    assert not await a.take(user, "c3", 2)


async def test_a_dead_process_seats_lapse_within_one_lease(
    processes: tuple[RedisSeats, RedisSeats], clock: Clock
) -> None:
    a, b = processes
    user = _user()
    assert await a.take(user, "c1", 1)
    # A live process renews: its seat outlives the first lease.
    clock.now += LEASE * 0.9
    await a.renew()
    clock.now += LEASE * 0.9
    assert not await b.take(user, "c1", 1)
    # Process a dies (kill -9): nothing renews its seat, which lapses one lease after the last renewal.
    clock.now += LEASE * 0.1 - 0.01
    assert not await b.take(user, "c1", 1)
    clock.now += 0.02
    assert await b.take(user, "c1", 1)


async def test_a_stalled_process_puts_its_lapsed_seats_back(
    processes: tuple[RedisSeats, RedisSeats], clock: Clock
) -> None:
    a, b = processes
    user = _user()
    assert await a.take(user, "c1", 2)
    clock.now += LEASE + 1  # a stalled past its lease: b's take drops the seat as lapsed
    assert await b.take(user, "c1", 2)
    await a.renew()  # a's connection is still real: it counts again
    assert not await b.take(user, "c2", 2)


async def test_a_storm_of_takes_is_counted_in_redis_not_admitted_blind(
    redis_url: str, processes: tuple[RedisSeats, RedisSeats], caplog: pytest.LogCaptureFixture
) -> None:
    """A reconnect storm's seats all reach Redis: none is admitted on the process's own count.

    With redis-py's default pool, 1,000 takes at once opened a connection each until "Too many
    connections" (past 100), and the hub admitted the rest without the cluster-wide count, logging an
    outage and a recovery again and again.
    """
    a, b = processes
    users = [_user() for _ in range(1000)]
    with caplog.at_level(logging.WARNING, logger="command_center.hub.seats"):
        taken = await asyncio.gather(*(a.take(user, "c1", 1) for user in users))
        assert all(taken)
        # Every seat is in Redis: the other process is refused each user's second connection.
        again = await asyncio.gather(*(b.take(user, "c2", 1) for user in users))
        assert not any(again), f"{sum(again)} seats were not counted in Redis"
        await asyncio.gather(*(a.give_back(user, "c1") for user in users))
        assert all(await asyncio.gather(*(b.take(user, "c2", 1) for user in users)))
    assert not [r.getMessage() for r in caplog.records], "the storm was taken for a Redis outage"


async def test_the_seats_of_one_step_go_in_one_call_each_as_if_alone(
    redis_url: str, processes: tuple[RedisSeats, RedisSeats]
) -> None:
    """Takes, renewals and give-backs asked for in one event-loop step share one script call, in order:
    two takes of a user's last seat in one batch admit exactly one, as two calls in a row would."""
    a, b = processes
    users = [_user() for _ in range(300)]
    calls: list[int] = []
    send = a._send

    async def counted(ops: Any) -> list[int]:
        calls.append(len(ops))
        return await send(ops)

    a._batch._send = counted  # type: ignore[method-assign]
    taken = await asyncio.gather(*(a.take(user, f"c{n}", 1) for user in users for n in (1, 2)))
    assert taken == [True, False] * len(users), "a user's second connection in the same batch was admitted"
    assert calls == [512, 88], f"600 takes went to Redis in {len(calls)} calls: {calls}"
    await a.renew()  # the 300 seats taken, in one call
    assert calls[2:] == [300]
    await asyncio.gather(*(a.give_back(user, "c1") for user in users[:100]))
    assert calls[3:] == [100]
    again = await asyncio.gather(*(b.take(user, "c9", 1) for user in users))
    assert again == [True] * 100 + [False] * 200


async def test_a_redis_that_forgot_the_script_gets_it_again(
    redis_url: str, processes: tuple[RedisSeats, RedisSeats]
) -> None:
    a, b = processes
    user = _user()
    assert await a.take(user, "c1", 1)
    async with Redis.from_url(redis_url) as client:
        await client.script_flush()  # what a restarted Redis has forgotten
    assert not await b.take(user, "c2", 1), "the seat taken before the flush no longer counted"
    assert await b.take(_user(), "c1", 1)


async def test_an_unreachable_redis_admits_on_the_process_count_and_says_so(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    seats = RedisSeats(f"redis://127.0.0.1:{free_port()}/0", lease_seconds=LEASE, clock=clock)
    try:
        with caplog.at_level(logging.WARNING, logger="command_center.hub.seats"):
            assert await seats.take(7, "c1", 1)
            assert await seats.take(7, "c2", 1)  # the hub checks its own count before asking
            await seats.renew()
            await seats.give_back(7, "c1")
        warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(warnings) == 1, "an outage is logged once, not once per connection"
    finally:
        await seats.close()


# -- two real processes --------------------------------------------------------------------------------

PROCESS_LEASE = 1.5  # seconds: the killed process's seats must lapse within it (renewal every 0.5 s)


@pytest.fixture
def servers(database_url: str, private_redis: RedisServer, tmp_path: Path) -> Iterator[list[AppProcess]]:
    env = {"CC_WS_MAX_CONNECTIONS_PER_USER": "2", "CC_WS_CONNECTION_LEASE_SECONDS": str(PROCESS_LEASE)}
    made = [AppProcess(database_url, private_redis.url, tmp_path, **env) for _ in range(2)]
    for server in made:
        server.start()
    yield made
    for server in made:
        server.stop()


async def _open(server: AppProcess, token: str) -> tuple[ClientConnection, int | None]:
    """Connect and authenticate: the socket, and None if welcomed or the close code if refused."""
    ws = await connect(server.ws, compression=None, open_timeout=10)
    await ws.send(json.dumps({"op": "auth", "token": token}))
    try:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
    except ConnectionClosed:
        return ws, ws.close_code
    assert frame["op"] == "welcome", frame
    return ws, None


async def _open_when_admitted(
    server: AppProcess, token: str, within: float
) -> tuple[ClientConnection, float]:
    """Retry until the server admits (a seat is freed by another process); the socket and seconds taken."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        ws, refused = await _open(server, token)
        if refused is None:
            return ws, time.monotonic() - started
        assert refused == 4429
        await asyncio.sleep(0.1)
    pytest.fail(f"no seat was freed within {within} s")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the cap is in Redis, not the database
async def test_the_cap_holds_across_two_processes_and_a_kill_9(servers: list[AppProcess]) -> None:
    a, b = servers
    token = await a.token("police")
    on_a = [await a.socket(token) for _ in range(2)]
    _, refused = await _open(b, token)
    assert refused == 4429, "the other process admitted a connection over the cap"
    # Closing one on a frees a seat that b may give.
    await on_a.pop().close()
    on_b, _ = await _open_when_admitted(b, token, within=10)
    _, refused = await _open(b, token)
    assert refused == 4429
    # a dies with its connection open: its seat lapses within a lease (its last renewal + the lease).
    a.kill()
    await on_a[0].close()
    # (the exact lapse time is the clock-driven test's; here: it ends, on a busy machine too)
    again, _ = await _open_when_admitted(b, token, within=PROCESS_LEASE + 20)
    for ws in (on_b, again):
        await ws.close()
