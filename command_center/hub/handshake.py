"""The first frame of a connection: ``{"op":"auth","token":T}`` within the time limit, or close 4401."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from command_center.auth.roles import Principal
from command_center.errors import CommandCenterError
from command_center.hub.connection import CLOSE_WAIT_SECONDS, HubOps
from command_center.hub.protocol import CLOSE_AUTH, FrameError, parse_frame


async def authenticate_first_frame(hub: HubOps, websocket: WebSocket) -> Principal | None:
    """Read the ``auth`` frame within the time limit; close with 4401 and return None if it fails."""
    settings = hub.settings
    try:
        # asyncio.timeout, not wait_for: no extra task per connection (it shows in a reconnect storm).
        async with asyncio.timeout(settings.ws_auth_timeout_seconds):
            event = await websocket.receive()
    except TimeoutError:
        await _close(websocket, CLOSE_AUTH, "authentication timed out")
        return None
    except WebSocketDisconnect:
        return None
    if event["type"] == "websocket.disconnect":
        return None
    text = event.get("text")
    token: Any = None
    if text is not None and len(text) <= settings.ws_max_frame_bytes:
        with contextlib.suppress(FrameError):
            frame = parse_frame(text)
            if frame["op"] == "auth":
                token = frame.get("token")
    if not isinstance(token, str) or not token:
        await _close(websocket, CLOSE_AUTH, 'the first frame must be {"op":"auth","token":...}')
        return None
    try:
        return await hub.authenticate(token)
    except CommandCenterError:
        await _close(websocket, CLOSE_AUTH, "invalid or expired token")
        return None


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_WAIT_SECONDS):
            await websocket.close(code, reason)
