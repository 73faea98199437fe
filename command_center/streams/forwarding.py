"""Hub signaling for a stream held by another process: forwarded to its owner through the broker.

A ``webrtc.view`` request reaches whichever process holds the client's WebSocket. That process decides
(may this user watch?) and audits, as for a local stream; then, if the stream's row names another owner, it
publishes ``{"type": "webrtc.forward", ...}`` on ``relay:{owner}``, the channel every process listens to
for itself. The owner answers the offer with its relay and publishes the ``webrtc.answer`` (or
``webrtc.error``) on the requester's ``user:{id}``, which reaches the client wherever it is connected.
No client can publish or subscribe on ``relay:*`` (no channel rule exists for it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from command_center.hub import Hub, Message
from command_center.streams.placement import Process
from command_center.streams.service import translate
from streaming import Relay, StreamingError

log = logging.getLogger(__name__)

FORWARD = "webrtc.forward"


def relay_channel(process_id: str) -> str:
    return f"relay:{process_id}"


async def forward_view(
    hub: Hub, *, owner: str, reply: str, request: Any, stream_id: str, offer_sdp: str
) -> None:
    """Send a viewer's offer to the process holding the stream; the answer goes to ``reply``."""
    data = {"type": FORWARD, "request": request, "reply": reply, "stream_id": stream_id, "sdp": offer_sdp}
    await hub.publish(relay_channel(owner), data)


async def install(hub: Hub, here: Process, relay: Callable[[], Relay]) -> None:
    """Answer the view requests other processes forward to this one."""
    tasks: set[asyncio.Task[None]] = set()

    async def answer(data: dict[str, Any]) -> None:
        request, reply = data.get("request"), str(data.get("reply") or "")
        if not reply.startswith("user:"):
            return
        try:
            sdp = await relay().view(str(data.get("stream_id")), str(data.get("sdp")))
        except StreamingError as exc:
            error = translate(exc)
            await hub.publish(reply, _frame("webrtc.error", request, error=error.code, detail=error.detail))
            return
        await hub.publish(reply, _frame("webrtc.answer", data.get("stream_id"), request=request, sdp=sdp))

    def on_message(message: Message) -> None:
        data = message.data
        if data.get("type") != FORWARD:
            return
        task = asyncio.ensure_future(answer(data))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(_log_failure)

    await hub.listen(relay_channel(here.id), on_message)


def _frame(kind: str, id_: Any, *, request: Any = None, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "id": id_,
        "request": request if request is not None else id_,
        "drill": False,
        **fields,
    }


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("forwarded WebRTC request failed", exc_info=task.exception())
