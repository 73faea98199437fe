"""Ending the talk spurt of a speaker whose floor was taken back, on the process whose relay holds it.

With several server processes the floor is decided wherever the request arrives or the time-out sweep
runs, while the spurt's media lives in one process's relay (the stream row's ``owner``, as for WHIP/WHEP
redirects and forwarded hub signaling). So the decision does not stop the stream itself: in the deciding
transaction it marks the stream stopped (a reconnecting page cannot revive it) and emits

    relay:{owner}  <- {"type": "ptt.cut", "id": STREAM_ID}

through the outbox, so the order leaves exactly when the decision commits and survives a broker outage.
Every process listens on its own ``relay:{id}`` (no client may publish or subscribe there) and stops the
stream if its relay holds it; its recording closes and the registry says it ended, as for any stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from command_center.events import emit
from command_center.hub import Hub, Message
from command_center.streams.forwarding import relay_channel
from command_center.streams.models import StreamRecord
from command_center.streams.placement import Process
from streaming import Relay
from streaming.errors import UnknownStream

log = logging.getLogger(__name__)

CUT = "ptt.cut"


async def order(session: AsyncSession, stream_id: str | None, here: Process) -> None:
    """In the transaction that took the floor back: have the spurt ``stream_id`` ended where it lives."""
    if stream_id is None:
        return
    row = await session.get(StreamRecord, stream_id)
    if row is None or row.ended_at is not None:
        return
    row.stopped = True
    # A row without an owner was published without placement (one process): this one holds it.
    emit(session, relay_channel(row.owner or here.id), type=CUT, id=row.id, drill=bool(row.drill))


async def install(hub: Hub, here: Process, relay: Callable[[], Relay | None]) -> None:
    """Stop the spurts other processes (or this one) ordered cut, when this process's relay holds them."""
    tasks: set[asyncio.Task[None]] = set()

    async def stop(stream_id: str) -> None:
        held = relay()
        if held is None:
            return
        with contextlib.suppress(UnknownStream):  # already ended (the speaker let go meanwhile)
            await held.stop(stream_id)

    def on_message(message: Message) -> None:
        data = message.data
        if data.get("type") != CUT or not isinstance(data.get("id"), str):
            return
        task = asyncio.ensure_future(stop(data["id"]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(_log_failure)

    await hub.listen(relay_channel(here.id), on_message)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("ending a cut talk spurt failed", exc_info=task.exception())
