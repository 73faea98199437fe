"""The ``/ws`` endpoint; the hub itself lives on ``app.state.hub`` (made in the app's lifespan)."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from command_center.hub.connection import Connection, authenticate_first_frame
from command_center.hub.hub import Hub
from command_center.hub.protocol import dumps

router = APIRouter()


@router.websocket("/ws")
async def hub_socket(websocket: WebSocket) -> None:
    """Serve one client for the protocol of DESIGN.md section 4."""
    hub: Hub = websocket.app.state.hub
    await websocket.accept()
    principal = await authenticate_first_frame(hub, websocket)
    if principal is None:
        return
    settings = hub.settings
    connection = Connection(hub, principal, settings.ws_send_queue, settings.ws_publish_rate)
    hub.register(connection)
    connection.send(dumps({"op": "welcome", "user": connection.user}))
    await connection.run(websocket)
