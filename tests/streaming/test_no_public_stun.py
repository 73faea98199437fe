"""Our own WebRTC peers never reach for a public STUN server; a deployment may name its own.

aiortc's default is Google's STUN server: every publish and every view looked up ``stun.l.google.com``.
Offline (the section's network) the lookup sometimes waited out the resolver's 5 s timeout, and a viewer's
offer was answered 5 s late (RESULTS.md, "Session of 2026-12-01"); online it told an outside party when the
command room streamed.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from streaming_helpers import relay_signal

from streaming import Publisher, Relay, SyntheticVideoTrack, ice_configuration


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host name aioice resolves (it resolves the STUN server with ``socket.gethostbyname``)."""
    seen: list[str] = []
    real = socket.gethostbyname

    def recording(host: str) -> str:
        seen.append(host)
        return real(host)

    monkeypatch.setattr(socket, "gethostbyname", recording)
    return seen


async def test_a_publisher_and_a_viewer_contact_no_stun_server(tmp_path, events, viewers, lookups) -> None:  # type: ignore[no-untyped-def]
    relay = Relay(tmp_path, events)
    publisher = Publisher(relay_signal(relay), lambda: [SyntheticVideoTrack()])
    try:
        stream_id = await publisher.connect()
        viewer = viewers()
        await viewer.watch(relay, stream_id)
        await viewer.wait_frames(3)
        assert lookups == []  # before: "stun.l.google.com" by the publisher's and the relay's peers
    finally:
        await publisher.close()
        await relay.close()


def test_the_deployment_names_its_own_stun_server() -> None:
    configuration: Any = ice_configuration("stun:stun.section.local:3478")
    assert [server.urls for server in configuration.iceServers] == ["stun:stun.section.local:3478"]
    assert ice_configuration().iceServers == []
