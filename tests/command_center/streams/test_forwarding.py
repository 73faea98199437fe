"""The process-to-process channel relay:{process} is the servers' own: no client can use it."""

from __future__ import annotations

import asyncio

import pytest

from command_center.hub.client import HubClient, HubError
from command_center.streams.forwarding import relay_channel
from tests.conftest import token_for


async def test_clients_can_neither_publish_nor_listen_on_relay_channels(live_server, app, client) -> None:  # type: ignore[no-untyped-def]
    ws = live_server.replace("http", "ws") + "/ws"
    channel = relay_channel(app.state.process.id)
    heard: list[dict] = []  # type: ignore[type-arg]
    await app.state.hub.listen(channel, lambda message: heard.append(message.data))
    async with HubClient([ws], await token_for(client, "admin")) as hub:
        forged = {"type": "webrtc.forward", "request": "x", "reply": "user:1", "stream_id": "s", "sdp": "v=0"}
        with pytest.raises(HubError) as refused:
            await asyncio.wait_for(hub.publish(channel, forged), 10)
        assert refused.value.code in ("unknown_channel", "forbidden")
        with pytest.raises(HubError):
            await asyncio.wait_for(hub.subscribe(channel), 10)
    assert heard == []
