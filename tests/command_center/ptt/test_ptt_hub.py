"""Push-to-talk over the real hub: the DESIGN section 9 frames, answered and announced through the outbox."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiortc import RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from command_center.hub.client import HubClient
from streaming import Publisher
from tests.command_center.streams.test_api import rest_signal
from tests.conftest import token_for
from tests.streaming.streaming_helpers import Viewer


async def _next_of(hub: HubClient, channel: str, kind: str) -> dict[str, Any]:
    while True:
        event = await asyncio.wait_for(hub.next(), 15)
        data = getattr(event, "data", None) or {}
        if getattr(event, "channel", None) == channel and data.get("type") == kind:
            return data


def _ptt(kind: str, group: str, ref: str) -> dict[str, Any]:
    return {"type": kind, "talkgroup": group, "id": ref, "drill": False}


async def _me(client, token: str) -> int:  # type: ignore[no-untyped-def]
    response = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    return int(response.json()["id"])


async def _incident_with(client: Any, *names: str) -> tuple[int, list[tuple[str, int]]]:
    """An incident the duty officer opened (talkgroup ``incident:{id}``); each named user's token and id."""
    duty = await token_for(client, "duty")
    body = {"title": "东门聚集", "category": "collective_petition", "departments": []}
    created = await client.post("/api/incidents", json=body, headers={"Authorization": f"Bearer {duty}"})
    tokens = [await token_for(client, name) for name in names]
    return int(created.json()["id"]), [(token, await _me(client, token)) for token in tokens]


@pytest.mark.slow
async def test_request_grant_announce_release_over_the_hub(live_server, client) -> None:  # type: ignore[no-untyped-def]
    ws = live_server.replace("http", "ws") + "/ws"
    incident_id, [(field1, id1), (field2, id2)] = await _incident_with(client, "field1", "field2")
    group = f"incident:{incident_id}"
    async with HubClient([ws], field1) as one, HubClient([ws], field2) as two:
        await one.subscribe(f"user:{id1}")
        await two.subscribe(f"user:{id2}")
        await two.subscribe(group)
        await one.publish(
            f"user:{id1}", {"type": "ptt.request", "talkgroup": group, "id": "a", "drill": False}
        )
        granted = await _next_of(one, f"user:{id1}", "ptt.granted")
        assert granted["talkgroup"] == group and granted["request"] == "a"
        announced = await _next_of(two, group, "ptt.granted")
        assert announced["speaker"]["id"] == id1 and announced["drill"] is False

        await two.publish(
            f"user:{id2}", {"type": "ptt.request", "talkgroup": group, "id": "b", "drill": False}
        )
        denied = await _next_of(two, f"user:{id2}", "ptt.denied")
        assert denied["reason"] == "busy" and denied["holder"]["id"] == id1

        await one.publish(
            f"user:{id1}", {"type": "ptt.release", "talkgroup": group, "id": "c", "drill": False}
        )
        released = await _next_of(two, group, "ptt.released")
        assert released["speaker"]["id"] == id1 and released["reason"] == "released"


@pytest.mark.slow
async def test_the_holder_attaches_its_spurt_and_members_hear_it(live_server, client) -> None:  # type: ignore[no-untyped-def]
    ws = live_server.replace("http", "ws") + "/ws"
    incident_id, [(field1, id1), (field2, id2), (duty, _)] = await _incident_with(
        client, "field1", "field2", "duty"
    )
    group = f"incident:{incident_id}"
    spurt = Publisher(rest_signal(live_server, field1, incident_id), lambda: [AudioStreamTrack()])
    listeners: list[Viewer] = []
    async with HubClient([ws], field1) as one, HubClient([ws], field2) as two:
        await one.subscribe(f"user:{id1}")
        await two.subscribe(f"user:{id2}")
        await two.subscribe(group)
        try:
            await one.publish(f"user:{id1}", _ptt("ptt.request", group, "a"))
            await _next_of(one, f"user:{id1}", "ptt.granted")
            stream_id = await spurt.connect()
            # Someone else's stream cannot be passed off as one's own spurt.
            await two.publish(f"user:{id2}", {**_ptt("ptt.request", group, "b"), "stream_id": stream_id})
            assert (await _next_of(two, f"user:{id2}", "ptt.denied"))["reason"] == "bad_stream"
            await one.publish(f"user:{id1}", {**_ptt("ptt.request", group, "c"), "stream_id": stream_id})
            announced = await _next_of(two, group, "ptt.granted")
            while announced.get("stream_id") is None:
                announced = await _next_of(two, group, "ptt.granted")
            assert announced["stream_id"] == stream_id and announced["spurt"] == 1
            for token in (field2, duty):
                listener = Viewer(audio=True)
                listeners.append(listener)
                await listener.pc.setLocalDescription(await listener.pc.createOffer())
                offer = {"sdp": listener.pc.localDescription.sdp, "type": "offer"}
                response = await client.post(
                    f"/api/streams/{stream_id}/view", json=offer, headers={"Authorization": f"Bearer {token}"}
                )
                assert response.status_code == 200, response.text
                answer = RTCSessionDescription(sdp=response.json()["sdp"], type="answer")
                await listener.pc.setRemoteDescription(answer)
            async with asyncio.timeout(20):
                while not all(v.audio_frames > 25 for v in listeners):
                    await asyncio.sleep(0.05)
            await one.publish(f"user:{id1}", _ptt("ptt.release", group, "d"))
            released = await _next_of(two, group, "ptt.released")
            assert released["stream_id"] == stream_id
        finally:
            for listener in listeners:
                await listener.close()
            await spurt.close()


@pytest.mark.slow
async def test_taken_back_floors_end_the_spurt_stream(app, live_server, client) -> None:  # type: ignore[no-untyped-def]
    """Time-out (the app's injected clock, the running sweep) and pre-emption both cut the speaker's audio."""
    now = [datetime(2026, 11, 30, 8, 0, tzinfo=UTC)]
    app.state.clock = lambda: now[0]
    ws = live_server.replace("http", "ws") + "/ws"
    incident_id, [(field1, id1), (commander, idc), (duty, _)] = await _incident_with(
        client, "field1", "commander", "duty"
    )
    group = f"incident:{incident_id}"
    async with HubClient([ws], field1) as one, HubClient([ws], commander) as boss:
        await one.subscribe(f"user:{id1}")
        await boss.subscribe(f"user:{idc}")
        for way in ("timeout", "preempted"):
            spurt = Publisher(rest_signal(live_server, field1, incident_id), lambda: [AudioStreamTrack()])
            try:
                await one.publish(f"user:{id1}", _ptt("ptt.request", group, f"{way}-1"))
                await _next_of(one, f"user:{id1}", "ptt.granted")
                stream_id = await spurt.connect()
                await one.publish(
                    f"user:{id1}", {**_ptt("ptt.request", group, f"{way}-2"), "stream_id": stream_id}
                )
                granted = await _next_of(one, f"user:{id1}", "ptt.granted")
                while granted.get("stream_id") != stream_id:
                    granted = await _next_of(one, f"user:{id1}", "ptt.granted")
                if way == "timeout":
                    now[0] += timedelta(seconds=app.state.settings.ptt_max_hold_seconds)
                else:
                    await boss.publish(f"user:{idc}", _ptt("ptt.request", group, "boss"))
                    await _next_of(boss, f"user:{idc}", "ptt.granted")
                released = await _next_of(one, f"user:{id1}", "ptt.released")
                assert (released["reason"], released["stream_id"]) == (way, stream_id)
                async with asyncio.timeout(15):
                    while True:
                        row = await client.get(
                            f"/api/streams/{stream_id}", headers={"Authorization": f"Bearer {duty}"}
                        )
                        if row.json()["ended_at"] is not None:
                            break
                        await asyncio.sleep(0.05)
            finally:
                await spurt.close()
        await boss.publish(f"user:{idc}", _ptt("ptt.release", group, "boss-done"))


@pytest.mark.slow
async def test_a_holder_whose_connection_drops_frees_the_floor(live_server, client) -> None:  # type: ignore[no-untyped-def]
    """Found in review: the talkgroup stayed blocked for the 60 s time-out after the talker dropped off."""
    ws = live_server.replace("http", "ws") + "/ws"
    incident_id, [(field1, id1), (field2, id2)] = await _incident_with(client, "field1", "field2")
    group = f"incident:{incident_id}"
    async with HubClient([ws], field2) as two:
        await two.subscribe(f"user:{id2}")
        await two.subscribe(group)
        async with HubClient([ws], field1) as one:
            await one.subscribe(f"user:{id1}")
            await one.publish(f"user:{id1}", _ptt("ptt.request", group, "a"))
            await _next_of(one, f"user:{id1}", "ptt.granted")
        # field1's only connection is gone (the phone lost its network mid-spurt).
        released = await _next_of(two, group, "ptt.released")
        assert released["speaker"]["id"] == id1 and released["reason"] == "disconnected"
        await two.publish(f"user:{id2}", _ptt("ptt.request", group, "b"))
        assert (await _next_of(two, f"user:{id2}", "ptt.granted"))["request"] == "b"


@pytest.mark.slow
async def test_a_member_taken_off_the_task_force_can_give_its_floor_back(live_server, client, login) -> None:  # type: ignore[no-untyped-def]
    """Found in review: its release was refused (no longer a member), so the floor waited for the time-out."""
    ws = live_server.replace("http", "ws") + "/ws"
    commander = await login("commander")
    police, fire = await token_for(client, "police"), await token_for(client, "fire")
    members = {"name": "东门专班", "purpose": "处置", "members": ["police", "fire_rescue"]}
    taskforce = (await client.post("/api/taskforces", json=members, headers=commander)).json()["id"]
    group = f"taskforce:{taskforce}"
    police_id, fire_id = await _me(client, police), await _me(client, fire)
    async with HubClient([ws], police) as talker, HubClient([ws], fire) as other:
        await talker.subscribe(f"user:{police_id}")
        await other.subscribe(f"user:{fire_id}")
        await other.subscribe(group)
        await talker.publish(f"user:{police_id}", _ptt("ptt.request", group, "a"))
        await _next_of(talker, f"user:{police_id}", "ptt.granted")
        removed = await client.delete(f"/api/taskforces/{taskforce}/members/police", headers=commander)
        assert removed.status_code == 200, removed.text
        await talker.publish(f"user:{police_id}", _ptt("ptt.release", group, "b"))
        released = await _next_of(other, group, "ptt.released")
        assert released["speaker"]["id"] == police_id and released["reason"] == "released"
        await other.publish(f"user:{fire_id}", _ptt("ptt.request", group, "c"))
        assert (await _next_of(other, f"user:{fire_id}", "ptt.granted"))["request"] == "c"
