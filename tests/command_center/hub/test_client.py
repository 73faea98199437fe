"""``HubClient``: requests, errors, reconnect with recovery, and ``reset`` when recovery is impossible."""

from __future__ import annotations

import asyncio

import pytest

from command_center.hub.client import HubAuthError, HubClient, HubError
from tests.command_center.hub.helpers import ServerProcess, wait_for

pytestmark = pytest.mark.timeout(120)


async def test_subscribe_publish_and_iterate(memory_server: ServerProcess) -> None:
    async with HubClient(memory_server.ws, "tok-bob") as client:
        assert client.user == {"id": 2, "name": "bob", "role": "commander", "department": "section"}
        subscribed = await client.subscribe("taskforce:9")
        ack = await client.publish("taskforce:9", {"type": "note", "id": 1, "drill": False}, id="c-1")
        assert ack["offset"] == subscribed["offset"] + 1
        event = await asyncio.wait_for(client.next(), 5)
        assert (event.kind, event.channel, event.offset, event.data) == (
            "message",
            "taskforce:9",
            ack["offset"],
            # Client-published messages carry the sender as the server knows it (DESIGN.md section 4).
            {"type": "note", "id": 1, "drill": False, "from": client.user},
        )
        assert [u["name"] for u in await client.presence("taskforce:9")] == ["bob"]
        await client.ping()
        await client.unsubscribe("taskforce:9")


async def test_errors_are_raised(memory_server: ServerProcess) -> None:
    async with HubClient(memory_server.ws, "tok-carol") as client:
        with pytest.raises(HubError) as info:
            await client.subscribe("taskforce:2")
        assert info.value.code == "forbidden"
        with pytest.raises(HubError) as info:
            await client.publish("board", {"type": "x"})
        assert info.value.code == "forbidden"
        with pytest.raises(HubError) as info:
            await client.subscribe("weather")
        assert info.value.code == "unknown_channel"
        await client.subscribe("taskforce:1")  # still usable


async def test_bad_token_stops_the_client(memory_server: ServerProcess) -> None:
    with pytest.raises(HubAuthError):
        async with HubClient(memory_server.ws, "nope"):
            pass


async def test_reconnects_and_recovers_what_it_missed(memory_server: ServerProcess) -> None:
    async with HubClient(memory_server.ws, "tok-bob", min_backoff=0.2) as client:
        start = (await client.subscribe("taskforce:1"))["offset"]
        assert client._ws is not None
        await client._ws.close()  # drop the connection under the client's feet
        await asyncio.sleep(0.05)
        published = [
            (await memory_server.publish("taskforce:1", {"type": "t", "n": n}))["offset"] for n in range(3)
        ]
        await wait_for(lambda: client.connections == 2)
        events = [await asyncio.wait_for(client.next(), 5) for _ in range(3)]
        assert [e.offset for e in events] == published == [start + 1, start + 2, start + 3]
        assert (client.gaps, client.duplicates, client.resets) == (0, 0, 0)


async def test_memory_server_restart_means_reset_and_failover() -> None:
    first = ServerProcess("--broker", "memory://")
    second = ServerProcess("--broker", "memory://")
    first.start()
    resets: list[str] = []
    try:
        client = HubClient(
            [first.ws, second.ws], "tok-bob", on_reset=lambda channel, pos: resets.append(channel)
        )
        await client.connect()
        await client.subscribe("board")
        await first.publish("board", {"type": "incident.created", "id": 1, "drill": False})
        assert (await asyncio.wait_for(client.next(), 5)).offset == 1
        second.start()
        first.kill()
        # The other process has its own memory broker: another epoch, so the gap cannot be filled.
        event = await asyncio.wait_for(client.next(), 10)
        assert (event.kind, event.channel, event.offset) == ("reset", "board", 0)
        assert resets == ["board"] and client.url == second.ws
        await second.publish("board", {"type": "incident.created", "id": 2, "drill": False})
        event = await asyncio.wait_for(client.next(), 5)
        assert (event.kind, event.offset, event.data["id"]) == ("message", 1, 2)  # type: ignore[index]
        await client.close()
    finally:
        first.stop()
        second.stop()
