"""The app's hub: REST changes reach subscribers live; channel rules follow the REST permissions."""

import asyncio
import json

from websockets.asyncio.client import connect

from tests.conftest import token_for


async def _open(url: str, token: str):  # type: ignore[no-untyped-def]
    ws = await connect(url.replace("http", "ws") + "/ws")
    await ws.send(json.dumps({"op": "auth", "token": token}))
    welcome = json.loads(await ws.recv())
    assert welcome["op"] == "welcome", welcome
    return ws


async def _next(ws, op: str = "message", timeout: float = 2.0) -> dict:  # type: ignore[no-untyped-def, type-arg]
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["op"] == op:
            return frame


async def test_incident_created_over_rest_reaches_the_board(live_server, client, login) -> None:  # type: ignore[no-untyped-def]
    ws = await _open(live_server, await token_for(client, "commander"))
    try:
        await ws.send(json.dumps({"op": "subscribe", "channel": "board"}))
        assert (await _next(ws, "subscribed"))["channel"] == "board"
        body = {"title": "东门聚集", "category": "collective_petition", "headcount": 12}
        created = await client.post("/api/incidents", json=body, headers=await login("duty"))
        message = await _next(ws)
        assert message["channel"] == "board"
        assert message["data"]["type"] == "incident.created"
        assert message["data"]["id"] == created.json()["id"]
        assert message["data"]["drill"] is False
        assert message["data"]["incident"]["headcount"] == 12
    finally:
        await ws.close()


async def test_incident_channel_follows_department_scope(live_server, client, login, app) -> None:  # type: ignore[no-untyped-def]
    body = {"title": "越级访", "category": "skip_level_petition", "departments": ["police"]}
    incident = (await client.post("/api/incidents", json=body, headers=await login("duty"))).json()
    channel = f"incident:{incident['id']}"
    police = await _open(live_server, await token_for(client, "police"))
    fire = await _open(live_server, await token_for(client, "fire"))
    try:
        await police.send(json.dumps({"op": "subscribe", "channel": channel}))
        assert (await _next(police, "subscribed"))["channel"] == channel
        await fire.send(json.dumps({"op": "subscribe", "channel": channel}))
        error = await _next(fire, "error")
        assert error["code"] == "forbidden"
        await fire.send(json.dumps({"op": "ping"}))
        assert (await _next(fire, "pong"))["op"] == "pong"  # the connection stays open
        await client.post(
            f"/api/incidents/{incident['id']}/reports", json={"kind": "phone"}, headers=await login("field1")
        )
        event = await _next(police)
        assert (
            event["data"]["type"] == "incident.event" and event["data"]["event"]["action"] == "report.phone"
        )
    finally:
        await police.close()
        await fire.close()
    entries = (await client.get("/api/audit?action=access.denied", headers=await login("admin"))).json()
    assert any(e["target"] == f"ws subscribe {channel}" and e["actor_name"] == "fire" for e in entries)


async def test_liaison_cannot_read_the_ledger_channel(live_server, client) -> None:  # type: ignore[no-untyped-def]
    ws = await _open(live_server, await token_for(client, "police"))
    try:
        await ws.send(json.dumps({"op": "subscribe", "channel": "ledger"}))
        assert (await _next(ws, "error"))["code"] == "forbidden"
    finally:
        await ws.close()


async def test_taskforce_channel_is_for_its_departments_only(live_server, client, login) -> None:  # type: ignore[no-untyped-def]
    taskforces = (await client.get("/api/taskforces", headers=await login("commander"))).json()
    channel = f"taskforce:{taskforces[0]['id']}"
    police = await _open(live_server, await token_for(client, "police"))
    housing = await _open(live_server, await token_for(client, "housing"))
    try:
        await police.send(json.dumps({"op": "subscribe", "channel": channel}))
        assert (await _next(police, "subscribed"))["channel"] == channel
        await housing.send(json.dumps({"op": "subscribe", "channel": channel}))
        assert (await _next(housing, "error"))["code"] == "forbidden"
    finally:
        await police.close()
        await housing.close()


async def test_liaisons_read_their_departments_board_only(live_server, client, login) -> None:  # type: ignore[no-untyped-def]
    police = await _open(live_server, await token_for(client, "police"))
    try:
        await police.send(json.dumps({"op": "subscribe", "channel": "board"}))
        assert (await _next(police, "error"))["code"] == "forbidden"  # the whole board is the command room's
        await police.send(json.dumps({"op": "subscribe", "channel": "board:fire_rescue"}))
        assert (await _next(police, "error"))["code"] == "forbidden"
        await police.send(json.dumps({"op": "subscribe", "channel": "board:police"}))
        assert (await _next(police, "subscribed"))["channel"] == "board:police"
        duty = await login("duty")
        await client.post(
            "/api/incidents", json={"title": "仅本科", "category": "disruptive_petition"}, headers=duty
        )
        shared = await client.post(
            "/api/incidents",
            headers=duty,
            json={"title": "公安参与", "category": "collective_petition", "departments": ["police"]},
        )
        message = await _next(police)
        assert message["channel"] == "board:police"
        assert (message["data"]["type"], message["data"]["id"]) == ("incident.created", shared.json()["id"])
    finally:
        await police.close()
