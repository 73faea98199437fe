"""The ``/ws`` endpoint; the hub itself lives on ``app.state.hub`` (made in the app's lifespan).

The endpoint is a plain ASGI app rather than a FastAPI websocket function so that the connection can
write with the server's ``send`` callable directly (see ``Connection.send``); a FastAPI ``APIRouter``
carries it like any other route.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from command_center.hub.connection import Connection
from command_center.hub.handshake import authenticate_first_frame
from command_center.hub.hub import Hub
from command_center.hub.protocol import CLOSE_TOO_MANY, dumps
from command_center.hub.wire import frame_sink, serve_directly


class HubEndpoint:
    """Serve one client for the protocol of DESIGN.md section 4."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        websocket = WebSocket(scope, receive, send)
        hub: Hub = websocket.app.state.hub
        await websocket.accept()
        principal = await authenticate_first_frame(hub, websocket)
        if principal is None:
            return
        settings = hub.settings
        connection = Connection(
            hub, principal, send, settings.ws_send_queue, settings.ws_publish_rate, frame_sink(scope)
        )
        if not await hub.admit(connection):
            limit = settings.ws_max_connections_per_user
            await websocket.close(CLOSE_TOO_MANY, f"at most {limit} connections per user")
            return
        connection.send(dumps({"op": "welcome", "user": connection.user}))
        await connection.run(websocket)


router = APIRouter()
router.routes.append(WebSocketRoute("/ws", HubEndpoint(), name="hub"))


def serve_hub_directly(app: Any) -> None:
    """Let the hub's uvicorn protocol serve ``/ws`` past the app's middleware (``wire.serve_directly``).

    Idle connections are most of what a command room holds: each saves the middleware chain's frames.
    """
    serve_directly(app, "/ws", HubEndpoint())
