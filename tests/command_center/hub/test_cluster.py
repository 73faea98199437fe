"""Several server processes sharing Redis: fan-out across processes, kill -9, and a Redis restart."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterator

import pytest

from command_center.hub.client import HubClient
from tests.command_center.hub.conftest import RedisServer
from tests.command_center.hub.helpers import ServerProcess, authed, recv, request

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.timeout(120)]


def _pair(broker_url: str) -> tuple[ServerProcess, ServerProcess]:
    servers = (ServerProcess("--broker", broker_url), ServerProcess("--broker", broker_url))
    for server in servers:
        server.start()
    return servers


@pytest.fixture
def two_servers(redis_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    servers = _pair(redis_url)
    yield servers
    for server in servers:
        server.stop()


def _open_channel() -> str:
    return f"taskforce:open-{uuid.uuid4().hex[:10]}"


async def test_message_published_on_one_process_reaches_the_other(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = two_servers
    channel = _open_channel()
    on_b = await authed(b.ws, "tok-carol")
    subscribed = await request(on_b, {"op": "subscribe", "channel": channel})
    on_a = await authed(a.ws, "tok-bob")
    await request(on_a, {"op": "subscribe", "channel": channel})
    ack = await request(
        on_a, {"op": "publish", "channel": channel, "id": "x1", "data": {"type": "note", "n": 1}}
    )
    assert ack["offset"] == subscribed["offset"] + 1
    message = await recv(on_b)
    assert (message["offset"], message["epoch"], message["data"]) == (
        ack["offset"],
        subscribed["epoch"],
        {
            "type": "note",
            "n": 1,
            "from": {"id": 2, "name": "bob", "role": "commander", "department": "section"},
        },
    )
    # Server-side publish on B reaches A; both processes agree on offsets and the epoch.
    result = await b.publish(channel, {"type": "incident.created", "id": 1, "drill": False})
    # (A's own message may have been read past by ``request`` above, which skips messages.)
    seen = [await recv(on_a)]
    if seen[0]["offset"] == ack["offset"]:
        seen.append(await recv(on_a))
    assert seen[-1]["offset"] == result["offset"] == ack["offset"] + 1
    # Presence spans processes.
    users = (await request(on_a, {"op": "presence", "channel": channel}))["users"]
    assert sorted(u["name"] for u in users) == ["bob", "carol"]
    # Idempotency spans processes: the same client id through B gets A's offset.
    bob_on_b = await authed(b.ws, "tok-bob")
    again = await request(
        bob_on_b, {"op": "publish", "channel": channel, "id": "x1", "data": {"type": "note"}}
    )
    assert again["offset"] == ack["offset"]
    for ws in (on_a, on_b, bob_on_b):
        await ws.close()


async def _publish_and_read(
    clients: list[HubClient], channel: str, per_client: int, interval: float, during: object
) -> dict[str, int]:
    """Every client publishes ``per_client`` messages; return client id -> acknowledged offset."""
    acked: dict[str, int] = {}

    async def publisher(index: int, client: HubClient) -> None:
        await asyncio.sleep(random.random() * interval)
        for n in range(per_client):
            client_id = f"{index}-{n}"
            ack = await asyncio.wait_for(
                client.publish(channel, {"type": "note", "id": client_id, "drill": True}, id=client_id), 60
            )
            acked[client_id] = ack["offset"]
            await asyncio.sleep(interval)

    await asyncio.gather(*(publisher(i, c) for i, c in enumerate(clients)), during)  # type: ignore[arg-type]
    return acked


async def _drain(client: HubClient, channel: str, last: int, received: list[tuple[int, str]]) -> None:
    while not received or received[-1][0] < last:
        event = await asyncio.wait_for(client.next(), 30)
        assert event.kind == "message", event
        received.append((event.offset, event.data["id"]))  # type: ignore[index]


async def _check_every_client_saw_everything_once(
    clients: list[HubClient], channel: str, acked: dict[str, int], starts: list[int], inboxes: list[list]
) -> None:
    last = max(acked.values())
    await asyncio.gather(
        *(_drain(c, channel, last, inbox) for c, inbox in zip(clients, inboxes, strict=True))
    )
    by_offset = {offset: client_id for client_id, offset in acked.items()}
    assert len(by_offset) == len(acked), "two acknowledged publishes share an offset"
    for client, start, inbox in zip(clients, starts, inboxes, strict=True):
        offsets = [offset for offset, _ in inbox]
        assert offsets == list(range(start + 1, last + 1)), "gap or duplicate"
        assert {cid for _, cid in inbox} == set(acked), "an acknowledged message is missing"
        assert all(by_offset[offset] == cid for offset, cid in inbox)
        assert (client.gaps, client.duplicates, client.resets) == (0, 0, 0)


async def _collect(client: HubClient, inbox: list, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            event = await asyncio.wait_for(client.next(), 0.2)
        except TimeoutError:
            continue
        assert event.kind == "message", event
        inbox.append((event.offset, event.data["id"]))  # type: ignore[index]


async def test_kill_9_one_process_while_100_clients_publish_and_read(
    two_servers: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = two_servers
    channel = _open_channel()
    clients = [
        HubClient([a.ws, b.ws] if i % 2 == 0 else [b.ws, a.ws], f"bench-{i}", max_backoff=0.5)
        for i in range(100)
    ]
    await asyncio.gather(*(c.connect() for c in clients))
    subscribed = await asyncio.gather(*(c.subscribe(channel) for c in clients))
    starts = [s["offset"] for s in subscribed]
    assert sum(1 for c in clients if c.url == a.ws) == 50
    inboxes: list[list] = [[] for _ in clients]
    stop = asyncio.Event()
    collectors = [
        asyncio.create_task(_collect(c, inbox, stop)) for c, inbox in zip(clients, inboxes, strict=True)
    ]

    async def kill_a() -> None:
        await asyncio.sleep(1.0)
        a.kill()

    started = time.monotonic()
    acked = await _publish_and_read(clients, channel, per_client=8, interval=0.25, during=kill_a())
    assert len(acked) == 800
    assert time.monotonic() - started < 60
    stop.set()
    await asyncio.gather(*collectors)
    await _check_every_client_saw_everything_once(clients, channel, acked, starts, inboxes)
    assert all(c.url == b.ws for c in clients)
    # The 50 clients of A reconnected (at least once each; a loaded machine may add a retry).
    assert sum(c.connections for c in clients) >= 150
    await asyncio.gather(*(c.close() for c in clients))


async def test_redis_restart_loses_no_acknowledged_message(private_redis: RedisServer) -> None:
    a, b = _pair(private_redis.url)
    clients: list[HubClient] = []
    try:
        channel = _open_channel()
        clients = [HubClient([a.ws, b.ws] if i % 2 else [b.ws, a.ws], f"bench-{i}") for i in range(20)]
        await asyncio.gather(*(c.connect() for c in clients))
        subscribed = await asyncio.gather(*(c.subscribe(channel) for c in clients))
        starts = [s["offset"] for s in subscribed]
        inboxes: list[list] = [[] for _ in clients]
        stop = asyncio.Event()
        collectors = [
            asyncio.create_task(_collect(c, inbox, stop)) for c, inbox in zip(clients, inboxes, strict=True)
        ]

        async def restart_redis() -> None:
            await asyncio.sleep(1.0)
            private_redis.kill()
            await asyncio.sleep(1.0)
            private_redis.start()

        acked = await _publish_and_read(clients, channel, per_client=15, interval=0.2, during=restart_redis())
        assert len(acked) == 300
        stop.set()
        await asyncio.gather(*collectors)
        await _check_every_client_saw_everything_once(clients, channel, acked, starts, inboxes)
    finally:
        await asyncio.gather(*(c.close() for c in clients))
        a.stop()
        b.stop()
