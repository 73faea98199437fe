"""WebRTC signaling over the hub's user:{id} channel: the same rules as REST, answers on the same channel."""

import asyncio
from typing import Any

import pytest
from aiortc import RTCSessionDescription

from command_center.hub.client import HubClient
from streaming import Publisher, SyntheticVideoTrack
from tests.conftest import token_for
from tests.streaming.streaming_helpers import Viewer


async def _answer(hub: HubClient, request: str) -> dict[str, Any]:
    while True:
        event = await asyncio.wait_for(hub.next(), 15)
        data = getattr(event, "data", None) or {}
        if data.get("type") in ("webrtc.answer", "webrtc.error") and data.get("request") == request:
            return data


@pytest.mark.slow
async def test_publish_and_view_over_the_hub(live_server, client) -> None:  # type: ignore[no-untyped-def]
    ws = live_server.replace("http", "ws") + "/ws"
    field_token, commander_token = await token_for(client, "field1"), await token_for(client, "commander")
    field_id = (await client.get("/api/auth/me", headers={"Authorization": f"Bearer {field_token}"})).json()[
        "id"
    ]
    commander_id = (
        await client.get("/api/auth/me", headers={"Authorization": f"Bearer {commander_token}"})
    ).json()["id"]
    async with HubClient([ws], field_token) as field_hub, HubClient([ws], commander_token) as commander_hub:
        await field_hub.subscribe(f"user:{field_id}")
        await commander_hub.subscribe(f"user:{commander_id}")
        counter = iter(range(100))

        async def signal(offer: dict[str, Any]) -> dict[str, Any]:
            request = f"pub-{next(counter)}"
            request_data = {**offer, "type": "webrtc.publish", "id": request, "drill": False}
            await field_hub.publish(f"user:{field_id}", request_data)
            answer = await _answer(field_hub, request)
            assert answer["type"] == "webrtc.answer", answer
            return {"id": answer["id"], "sdp": answer["sdp"], "type": "answer"}

        publisher = Publisher(signal, lambda: [SyntheticVideoTrack()])
        viewer = Viewer()
        try:
            stream_id = await publisher.connect()
            await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
            await commander_hub.publish(
                f"user:{commander_id}",
                {
                    "type": "webrtc.view",
                    "id": "view-1",
                    "drill": False,
                    "stream_id": stream_id,
                    "sdp": viewer.pc.localDescription.sdp,
                },
            )
            answer = await _answer(commander_hub, "view-1")
            assert answer["type"] == "webrtc.answer" and answer["id"] == stream_id
            await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
            await viewer.wait_frames(5, timeout=15)
            # A bad request gets an error answer, and the channel keeps working.
            await commander_hub.publish(
                f"user:{commander_id}",
                {"type": "webrtc.view", "id": "view-2", "drill": False, "stream_id": "nope", "sdp": "v=0"},
            )
            error = await _answer(commander_hub, "view-2")
            assert (error["type"], error["error"]) == ("webrtc.error", "not_found")
        finally:
            await viewer.close()
            await publisher.close()
