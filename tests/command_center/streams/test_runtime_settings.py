"""The relay of a running app takes its ICE configuration from the settings: no STUN unless one is named."""

from __future__ import annotations

from command_center.app import create_app
from command_center.settings import Settings


async def _relay_ice_servers(settings: Settings) -> list[str]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        return [server.urls for server in app.state.relay.configuration.iceServers]


async def test_the_relay_uses_the_deployments_stun_server_or_none(settings: Settings) -> None:
    assert await _relay_ice_servers(settings) == []
    named = settings.model_copy(update={"webrtc_stun_server": "stun:stun.section.local:3478"})
    assert await _relay_ice_servers(named) == ["stun:stun.section.local:3478"]
