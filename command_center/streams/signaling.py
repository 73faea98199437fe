"""WebRTC signaling over the hub, beside the REST endpoints (DESIGN.md section 9).

A client publishes a request on its own ``user:{id}`` channel and receives the answer there:

    -> {"type": "webrtc.publish", "id": REQ, "drill": false, "sdp": OFFER, "incident_id": 7}
    -> {"type": "webrtc.view", "id": REQ, "drill": false, "stream_id": S, "sdp": OFFER}
    <- {"type": "webrtc.answer", "id": STREAM_ID, "request": REQ, "drill": false, "sdp": ANSWER}
    <- {"type": "webrtc.error", "id": REQ, "request": REQ, "drill": false, "error": CODE, "detail": "..."}

The same service functions as the REST endpoints decide and audit, so both paths obey the same rules.
A view of a stream held by another process is forwarded to it through the broker (``forwarding.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from command_center.auth.roles import Principal
from command_center.db import Database
from command_center.errors import CommandCenterError
from command_center.events import unit_of_work
from command_center.hub import Hub, Message
from command_center.streams import service
from command_center.streams.forwarding import forward_view
from command_center.streams.placement import Process
from command_center.streams.schemas import Offer, PublishOffer
from streaming import Relay

REQUESTS = ("webrtc.publish", "webrtc.view")


def install(hub: Hub, database: Database, relay: Callable[[], Relay], here: Process | None = None) -> None:
    async def on_client_publish(principal: Principal, channel: str, message: Message) -> None:
        data = message.data
        kind = data.get("type")
        if kind not in REQUESTS or channel != f"user:{principal.id}":
            return
        request = data.get("id")
        try:
            async with unit_of_work(database, hub) as session:
                if kind == "webrtc.publish":
                    offer = PublishOffer(
                        sdp=data.get("sdp"),
                        type="offer",
                        incident_id=data.get("incident_id"),
                        stream_id=data.get("stream_id"),
                    )
                    stream_id, sdp = await service.publish(
                        session, relay(), principal=principal, data=offer, here=here
                    )
                else:
                    stream_id = str(data.get("stream_id") or "")[:64]
                    checked = Offer(sdp=data.get("sdp"), type="offer")
                    row = await service.viewable(session, principal, stream_id)
                    if here is not None and not here.holds(row):
                        await service.record_view(session, principal, row)
                        await forward_view(
                            hub,
                            owner=row.owner,
                            reply=channel,
                            request=request,
                            stream_id=stream_id,
                            offer_sdp=checked.sdp,
                        )
                        return
                    sdp = await service.watch(
                        session, relay(), principal=principal, stream_id=stream_id, offer_sdp=checked.sdp
                    )
        except CommandCenterError as exc:
            await hub.publish(channel, _error(request, exc.code, exc.detail))
            return
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first.get("loc", ()))
            await hub.publish(channel, _error(request, "validation_error", f"{field}: {first.get('msg')}"))
            return
        await hub.publish(
            channel,
            {"type": "webrtc.answer", "id": stream_id, "request": request, "drill": False, "sdp": sdp},
        )

    hub.add_publish_hook(on_client_publish, channels="user:")


def _error(request: Any, code: str, detail: str) -> dict[str, Any]:
    return {
        "type": "webrtc.error",
        "id": request,
        "request": request,
        "drill": False,
        "error": code,
        "detail": detail,
    }
