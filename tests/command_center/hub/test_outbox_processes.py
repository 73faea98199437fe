"""Real processes on Redis (issue 11): revocation across processes, a Redis outage, and kill -9 after commit.

Each test runs ``command-center serve`` processes on the test database (SQLite file or PostgreSQL) and a
private ``redis-server`` with AOF that the test stops and starts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tests.command_center.hub.app_process import AppProcess
from tests.command_center.hub.conftest import RedisServer

pytestmark = pytest.mark.timeout(180)

INCIDENT = {"title": "东门聚集", "category": "skip_level_petition"}


@pytest.fixture
def servers(database_url: str, private_redis: RedisServer, tmp_path: Path) -> Iterator[list[AppProcess]]:
    """Two app processes (started by the test) on one database and one private Redis."""
    made = [AppProcess(database_url, private_redis.url, tmp_path) for _ in range(2)]
    yield made
    for server in made:
        server.stop()


async def _next(ws: ClientConnection, op: str, timeout: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["op"] == op:
                return frame  # type: ignore[no-any-return]


async def _subscribe(ws: ClientConnection, channel: str) -> dict[str, Any]:
    await ws.send(json.dumps({"op": "subscribe", "channel": channel}))
    return await _next(ws, "subscribed")


async def _incident_messages(ws: ClientConnection, count: int, timeout: float) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    while len(got) < count:
        frame = await _next(ws, "message", timeout)
        if frame["data"]["type"] == "incident.created":
            got.append(frame)
    return got


async def _nothing_more(ws: ClientConnection) -> None:
    """A ping answered with nothing but a pong before it: no duplicate is on its way."""
    await ws.send(json.dumps({"op": "ping"}))
    async with asyncio.timeout(10):
        while True:
            frame = json.loads(await ws.recv())
            if frame["op"] == "pong":
                return
            assert frame["op"] != "message" or frame["data"]["type"] != "incident.created", frame


async def test_sign_out_on_one_process_closes_the_socket_on_the_other(servers: list[AppProcess]) -> None:
    a, b = servers
    a.start()
    b.start()
    token = await a.token("police")
    ws = await b.socket(token)
    await _subscribe(ws, "board:police")
    async with httpx.AsyncClient(base_url=b.http, timeout=30) as http:
        me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200  # process b now remembers whose token it is (auth/tokens.py)
        response, _ = await a.post("/api/auth/revoke", token)
        assert response.status_code == 204
        try:
            async with asyncio.timeout(1.0):  # DESIGN.md section 3: within 1 s, everywhere
                while True:
                    await ws.recv()
        except ConnectionClosed:
            pass
        assert ws.close_code == 4401
        # The message that closed the socket also made b forget the token: its REST refuses it too.
        me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 401, me.text


async def test_writes_during_a_redis_outage_are_fast_and_delivered_once_in_order(
    servers: list[AppProcess], private_redis: RedisServer
) -> None:
    server = servers[0]
    server.start()
    token = await server.token("duty")
    ws = await server.socket(await server.token("commander"))
    await _subscribe(ws, "board")
    private_redis.kill()
    created = []
    for n in range(3):
        response, seconds = await server.post("/api/incidents", token, {**INCIDENT, "headcount": 5 + n})
        assert response.status_code == 201, response.text
        assert seconds < 5.0, f"POST took {seconds:.1f} s with Redis down (23 s before the outbox)"
        created.append(response.json()["id"])
    private_redis.start()  # same port and AOF folder: the broker's state comes back
    messages = await _incident_messages(ws, 3, timeout=30)
    assert [m["data"]["id"] for m in messages] == created
    offsets = [m["offset"] for m in messages]
    assert offsets == list(range(offsets[0], offsets[0] + 3))
    await _nothing_more(ws)
    await ws.close()


async def test_messages_committed_before_a_kill_9_are_delivered_once(
    servers: list[AppProcess], private_redis: RedisServer
) -> None:
    """A process commits, cannot publish (Redis down), dies by SIGKILL; the survivor relays its rows."""
    doomed, survivor = servers
    doomed.start()
    survivor.start()
    token = await doomed.token("duty")
    ws = await survivor.socket(await survivor.token("commander"))
    subscribed = await _subscribe(ws, "board")
    private_redis.kill()
    created = []
    for n in range(3):
        response, _ = await doomed.post("/api/incidents", token, {**INCIDENT, "headcount": 5 + n})
        assert response.status_code == 201, response.text
        created.append(response.json()["id"])
    doomed.kill()  # between commit and publish
    private_redis.start()
    messages = await _incident_messages(ws, 3, timeout=30)
    assert [m["data"]["id"] for m in messages] == created
    assert messages[0]["epoch"] == subscribed["epoch"]
    await _nothing_more(ws)
    # A restarted process publishes nothing twice either: its relay finds the rows marked.
    doomed.start()
    await _nothing_more(ws)
    await ws.close()
