"""Talk-back and push-to-talk media with real aiortc peers: the command room's audio reaches the officer.

The commander takes the floor of ``stream:{id}`` (the officer's live stream), publishes the talk as an
audio-only stream, attaches it to the floor, and the officer's phone plays it through the relay; the
spurt is recorded with its SHA-256 and the audit says who talked to whom, when and for how long.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiortc import RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack
from sqlalchemy import select

from command_center.audit.models import AuditEntry
from command_center.auth.service import get_user_by_name, to_principal
from command_center.ptt import floor
from streaming import Publisher, SyntheticVideoTrack
from tests.command_center.streams.test_api import rest_signal
from tests.conftest import PublishedEvents, bearer, token_for
from tests.streaming.streaming_helpers import Viewer

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


async def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def _floor_call(app: Any, who: str, fn: str, **kwargs: Any) -> Any:
    async with app.state.db.session() as session:
        user = await get_user_by_name(session, who)
        assert user is not None
        result = await getattr(floor, fn)(session, to_principal(user), **kwargs)
    await app.state.outbox.drain()
    return result


@pytest.mark.slow
async def test_the_commander_talks_back_and_the_officer_hears_it(  # type: ignore[no-untyped-def]
    app, live_server, client, published: PublishedEvents
) -> None:
    app.state.clock = lambda: T0  # the floor sweep reads the app's clock: frozen, it never takes a floor back
    field_token, commander_token = await token_for(client, "field1"), await token_for(client, "commander")
    officer = Publisher(
        rest_signal(live_server, field_token), lambda: [SyntheticVideoTrack(), AudioStreamTrack()]
    )
    talk = Publisher(rest_signal(live_server, commander_token), lambda: [AudioStreamTrack()])
    listeners = []
    try:
        scene = await officer.connect()
        group = f"stream:{scene}"
        # The commander watches the scene with its audio (the officer's answer on the same stream).
        wall, response = await watch(client, commander_token, scene)
        listeners.append(wall)
        assert response.status_code == 200, response.text
        await _until(lambda: wall.audio_frames > 25)  # the officer's own audio: its answer

        granted = await _floor_call(app, "commander", "request", name=group, now=T0, max_hold=60, ref="t1")
        assert granted.granted
        talk_id = await talk.connect()
        attached = await _floor_call(
            app,
            "commander",
            "request",
            name=group,
            now=T0 + timedelta(seconds=1),
            max_hold=60,
            ref="t2",
            stream_id=talk_id,
        )
        assert attached.granted
        field_id = (await client.get("/api/auth/me", headers=bearer(field_token))).json()["id"]
        to_officer = [d for c, d in published.of_type("ptt.granted") if c == f"user:{field_id}"]
        assert to_officer[-1]["stream_id"] == talk_id and to_officer[-1]["speaker"]["role"] == "commander"

        # The officer's phone plays the talk through the relay.
        phone, response = await watch(client, field_token, talk_id)
        listeners.append(phone)
        assert response.status_code == 200, response.text
        await _until(lambda: phone.audio_frames > 25)

        # Others may not talk back: a field officer, a liaison outside the stream's department.
        for name in ("field2", "police"):
            denied = await _floor_call(app, name, "request", name=group, now=T0, max_hold=60, ref="x")
            assert denied.reason == "not_member"

        assert await _floor_call(app, "commander", "release", name=group, now=T0 + timedelta(seconds=7.5))
        stopped = await client.delete(f"/api/streams/{talk_id}", headers=bearer(commander_token))
        assert stopped.status_code == 200, stopped.text
        recordings = await _until_recorded(client, commander_token, talk_id)
    finally:
        for listener in listeners:
            await listener.close()
        await talk.close()
        await officer.close()
    entry = recordings[0]
    path = app.state.relay.recording_dir(talk_id) / entry["file"]
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() and entry["audio_frames"] > 0
    async with app.state.db.session() as session:
        rows = (
            (
                await session.execute(
                    select(AuditEntry).where(AuditEntry.target.in_([group, f"stream:{talk_id}"]))
                )
            )
            .scalars()
            .all()
        )
    actions = {row.action: row for row in rows}
    released = actions["ptt.released"]
    assert '"seconds":7.5' in released.detail and f'"to":"user:{field_id}"' in released.detail
    assert talk_id in released.detail and actions["ptt.granted"].actor_name == "commander"
    assert entry["sha256"] in actions["recording.segment"].detail


async def watch(client: Any, token: str, stream_id: str) -> tuple[Viewer, Any]:
    """A listener with audio (the helper in test_api watches video only)."""
    viewer = Viewer(audio=True)
    await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
    body = {"sdp": viewer.pc.localDescription.sdp, "type": "offer"}
    response = await client.post(f"/api/streams/{stream_id}/view", headers=bearer(token), json=body)
    if response.status_code == 200:
        await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=response.json()["sdp"], type="answer"))
    return viewer, response


async def _until_recorded(client: Any, token: str, stream_id: str) -> list[dict[str, Any]]:
    async with asyncio.timeout(20):
        while True:
            response = await client.get(f"/api/streams/{stream_id}/recordings", headers=bearer(token))
            if response.status_code == 200 and response.json():
                return list(response.json())
            await asyncio.sleep(0.1)
