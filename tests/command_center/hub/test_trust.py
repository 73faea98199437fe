"""Hub trust on the real app (issue 11): permissions follow the user, abuse is bounded, signaling is honest.

Each test reproduces one observation of the issue against the app with its real hub, database (SQLite and
PostgreSQL) and the memory broker, over real WebSocket connections.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from command_center.audit.models import AuditEntry
from command_center.auth.models import AccessToken, User
from tests.conftest import bearer, token_for

pytestmark = pytest.mark.timeout(60)

TASKFORCE_MESSAGE = {"text": "东门增派警力"}


async def _open(url: str, token: str) -> ClientConnection:
    ws = await connect(url.replace("http", "ws") + "/ws", compression=None)
    await ws.send(json.dumps({"op": "auth", "token": token}))
    welcome = json.loads(await ws.recv())
    assert welcome["op"] == "welcome", welcome
    return ws


async def _next(ws: ClientConnection, op: str, timeout: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["op"] == op:
                return frame  # type: ignore[no-any-return]


async def _ask(ws: ClientConnection, frame: dict[str, Any] | str, op: str) -> dict[str, Any]:
    await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    return await _next(ws, op)


async def _closed_with(ws: ClientConnection, timeout: float = 1.0) -> int | None:
    """Wait (at most ``timeout``: the 1 s of DESIGN.md section 3) for the server to close; its code."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except ConnectionClosed:
        return ws.close_code
    except TimeoutError:
        return None


async def _taskforce(client: Any, headers: dict[str, str]) -> int:
    """A task force of the section with police and fire rescue, no tasks yet (a department that owns
    unfinished tasks cannot be taken off, as in the demo's task force)."""
    body = {"name": "东门专班", "purpose": "联合处置", "members": ["police", "fire_rescue"]}
    created = await client.post("/api/taskforces", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


async def test_sign_out_closes_the_socket_with_4401(live_server, client) -> None:  # type: ignore[no-untyped-def]
    token = await token_for(client, "police")
    other = await token_for(client, "police")  # a second device of the same user stays signed in
    ws, ws_other = await _open(live_server, token), await _open(live_server, other)
    await _ask(ws, {"op": "subscribe", "channel": "board:police"}, "subscribed")
    assert (await client.post("/api/auth/revoke", headers=bearer(token))).status_code == 204
    assert (await client.get("/api/auth/me", headers=bearer(token))).status_code == 401
    assert await _closed_with(ws) == 4401
    assert (await _ask(ws_other, {"op": "ping"}, "pong"))["op"] == "pong"
    await ws_other.close()


async def test_a_token_that_expires_closes_its_socket_with_4401(live_server, client, app) -> None:  # type: ignore[no-untyped-def]
    """A token ends (12 h by default) and REST answers 401: its open sockets end then, not at reconnect."""
    expiring = await token_for(client, "police")
    lasting = await token_for(client, "commander")
    async with app.state.db.session() as session:
        police = (await session.execute(select(User).where(User.name == "police"))).scalar_one()
        ends = datetime.now(UTC) + timedelta(seconds=3)
        mine = update(AccessToken).where(AccessToken.user_id == police.id)
        await session.execute(mine.values(expires_at=ends))
    ws, ws_lasting = await _open(live_server, expiring), await _open(live_server, lasting)
    await _ask(ws, {"op": "subscribe", "channel": "board:police"}, "subscribed")
    assert await _closed_with(ws, 30) == 4401
    assert datetime.now(UTC) >= ends - timedelta(seconds=0.1), "closed before the token's end"
    assert (await client.get("/api/auth/me", headers=bearer(expiring))).status_code == 401
    assert (await _ask(ws_lasting, {"op": "ping"}, "pong"))["op"] == "pong"
    await ws_lasting.close()


async def test_revoke_tokens_closes_every_socket_of_the_user(live_server, client, login) -> None:  # type: ignore[no-untyped-def]
    token = await token_for(client, "police")
    me = (await client.get("/api/auth/me", headers=bearer(token))).json()
    sockets = [await _open(live_server, token), await _open(live_server, await token_for(client, "police"))]
    admin = await login("admin")
    assert (await client.post(f"/api/users/{me['id']}/revoke-tokens", headers=admin)).status_code == 204
    assert [await _closed_with(ws) for ws in sockets] == [4401, 4401]
    # And it cannot come back with the revoked token.
    ws = await connect(live_server.replace("http", "ws") + "/ws")
    await ws.send(json.dumps({"op": "auth", "token": token}))
    assert await _closed_with(ws, 5) == 4401


async def test_losing_the_department_ends_the_subscription(live_server, client, login) -> None:  # type: ignore[no-untyped-def]
    commander = await login("commander")
    taskforce = await _taskforce(client, commander)
    channel = f"taskforce:{taskforce}"
    police = await _open(live_server, await token_for(client, "police"))
    section = await _open(live_server, await token_for(client, "commander"))
    for ws in (police, section):
        await _ask(ws, {"op": "subscribe", "channel": channel}, "subscribed")
    removed = await client.delete(f"/api/taskforces/{taskforce}/members/police", headers=commander)
    assert removed.status_code == 200, removed.text
    async with asyncio.timeout(1.0):
        ended = await _next(police, "unsubscribed")
    assert ended == {"op": "unsubscribed", "channel": channel, "reason": "forbidden"}
    # The next message reaches those who still may read, and not the police liaison.
    posted = await client.post(
        f"/api/taskforces/{taskforce}/messages", json=TASKFORCE_MESSAGE, headers=commander
    )
    assert posted.status_code == 201, posted.text
    seen = await _next(section, "message")
    while seen["data"]["type"] != "taskforce.message":
        seen = await _next(section, "message")
    await police.send(json.dumps({"op": "ping"}))
    frame = json.loads(await asyncio.wait_for(police.recv(), 5))
    assert frame == {"op": "pong"}, f"nothing more on {channel} after the right ended, got {frame}"
    # Subscribing again is refused like any other forbidden channel.
    assert (await _ask(police, {"op": "subscribe", "channel": channel}, "error"))["code"] == "forbidden"
    for ws in (police, section):
        await ws.close()


async def test_connections_per_user_are_capped(live_server, client, app) -> None:  # type: ignore[no-untyped-def]
    app.state.settings.ws_max_connections_per_user = 3
    token = await token_for(client, "police")
    kept = [await _open(live_server, token) for _ in range(3)]
    ws = await connect(live_server.replace("http", "ws") + "/ws")
    await ws.send(json.dumps({"op": "auth", "token": token}))
    assert await _closed_with(ws, 5) == 4429
    await kept[0].close()
    await asyncio.sleep(0)  # (the server notices the close on its own; the next open waits for it)
    for _ in range(50):
        again = await connect(live_server.replace("http", "ws") + "/ws")
        await again.send(json.dumps({"op": "auth", "token": token}))
        if json.loads(await again.recv()).get("op") == "welcome":
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("a freed slot was never given again")
    for one in (*kept[1:], again):
        await one.close()


async def test_every_op_is_rate_limited(live_server, client, app) -> None:  # type: ignore[no-untyped-def]
    app.state.settings.ws_op_rate = 50
    flooder = await _open(live_server, await token_for(client, "police"))
    bystander = await _open(live_server, await token_for(client, "fire"))
    for _ in range(2000):
        await flooder.send('{"op":"ping"}')
    # The bystander is served while the flood waits in the flooder's socket.
    assert (await _ask(bystander, {"op": "ping"}, "pong"))["op"] == "pong"
    assert (await _next(flooder, "error"))["code"] == "rate_limited"
    # The flooder hangs up without the closing handshake: its close frame would wait behind the ~2,000
    # frames the server has not read yet (50 a second), and the client gives up on it only after 10 s.
    flooder.transport.abort()
    await bystander.close()


async def _denial_rows(app: Any) -> list[AuditEntry]:
    async with app.state.db.session() as session:
        query = select(AuditEntry).where(AuditEntry.action == "access.denied").order_by(AuditEntry.seq)
        return [row for row in (await session.execute(query)).scalars() if row.target.startswith("ws ")]


async def test_repeated_denials_are_audited_once_per_minute_with_a_count(live_server, client, app) -> None:  # type: ignore[no-untyped-def]
    app.state.settings.ws_op_rate = 10_000  # this test is about auditing, not the rate limit
    ws = await _open(live_server, await token_for(client, "police"))
    for _ in range(60):
        assert (await _ask(ws, {"op": "subscribe", "channel": "ledger:x"}, "error"))[
            "code"
        ] == "unknown_channel"
        assert (await _ask(ws, {"op": "subscribe", "channel": "board"}, "error"))["code"] == "forbidden"
    assert len(await _denial_rows(app)) == 1  # the first at once; the rest counted
    await ws.close()
    for _ in range(100):
        rows = await _denial_rows(app)
        if len(rows) == 2:
            break
        await asyncio.sleep(0.05)
    assert [json.loads(row.detail)["count"] for row in rows] == [1, 59]


async def test_extreme_frames_get_error_frames_and_the_connection_stays(live_server, client) -> None:  # type: ignore[no-untyped-def]
    ws = await _open(live_server, await token_for(client, "commander"))
    nested = '{"op":"publish","channel":"user:1","id":"n","data":' + "[" * 5000 + "]" * 5000 + "}"
    assert (await _ask(ws, nested, "error"))["code"] == "bad_request"
    deep = {"type": "webrtc.view", "x": {}}
    cursor = deep["x"]
    for _ in range(40):
        cursor["x"] = {}
        cursor = cursor["x"]
    answer = await _ask(ws, {"op": "publish", "channel": "user:2", "id": "d", "data": deep}, "error")
    assert answer["code"] in {"bad_request", "forbidden"}
    for offset in (2**63, 2**64, -1):
        since = {"offset": offset, "epoch": "abcd"}
        answer = await _ask(ws, {"op": "subscribe", "channel": "board", "since": since}, "error")
        assert answer["code"] == "bad_request"
    assert (await _ask(ws, {"op": "ping"}, "pong"))["op"] == "pong"
    await ws.close()


async def test_clients_publish_only_requests_stamped_with_their_sender(live_server, client, login) -> None:  # type: ignore[no-untyped-def]
    victim_token = await token_for(client, "commander")
    victim_id = (await client.get("/api/auth/me", headers=bearer(victim_token))).json()["id"]
    attacker_token = await token_for(client, "police")
    attacker = (await client.get("/api/auth/me", headers=bearer(attacker_token))).json()
    victim = await _open(live_server, victim_token)
    await _ask(victim, {"op": "subscribe", "channel": f"user:{victim_id}"}, "subscribed")
    ws = await _open(live_server, attacker_token)
    forged = {"type": "webrtc.answer", "id": "s1", "request": "r1", "drill": False, "sdp": "v=0"}
    for channel in (f"user:{victim_id}", f"user:{attacker['id']}", "user:junk-1"):
        frame = {"op": "publish", "channel": channel, "id": f"f-{channel}", "data": forged}
        answer = await _ask(ws, frame, "error")
        assert (answer["code"], answer["ref"]) == ("forbidden", f"f-{channel}"), channel
    # A request on one's own channel goes out with the sender the server knows, whatever the client says.
    await _ask(ws, {"op": "subscribe", "channel": f"user:{attacker['id']}"}, "subscribed")
    request = {
        "type": "webrtc.view",
        "id": "r2",
        "drill": False,
        "stream_id": "nope",
        "sdp": "v=0",
        "from": 1,
    }
    await ws.send(
        json.dumps({"op": "publish", "channel": f"user:{attacker['id']}", "id": "r2", "data": request})
    )
    message = await _next(ws, "message")
    assert message["data"]["from"] == {
        "id": attacker["id"],
        "name": "police",
        "role": "liaison",
        "department": "police",
    }
    # The server's own answer (an error: no such stream) carries no ``from``.
    answer = await _next(ws, "message")
    assert answer["data"]["type"] == "webrtc.error" and "from" not in answer["data"]
    await victim.send(json.dumps({"op": "ping"}))
    assert json.loads(await asyncio.wait_for(victim.recv(), 5)) == {"op": "pong"}
    await ws.close()
    await victim.close()


async def test_the_python_client_is_told_and_stops_asking(live_server, client, login) -> None:  # type: ignore[no-untyped-def]
    from command_center.hub.client import HubClient

    commander = await login("commander")
    taskforce = await _taskforce(client, commander)
    channel = f"taskforce:{taskforce}"
    url = live_server.replace("http", "ws") + "/ws"
    async with HubClient(url, await token_for(client, "police")) as hub:
        await hub.subscribe(channel)
        removed = await client.delete(f"/api/taskforces/{taskforce}/members/police", headers=commander)
        assert removed.status_code == 200
        event = await asyncio.wait_for(hub.next(), 5)
        while event.kind == "message":
            event = await asyncio.wait_for(hub.next(), 5)
        assert (event.kind, event.channel, event.data) == ("ended", channel, {"reason": "forbidden"})
        assert channel not in hub.positions  # a reconnection will not ask for it again
