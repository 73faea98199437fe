"""Push-to-talk over the hub: requests on the member's own ``user:{id}``, a sweep that takes floors back.

    -> user:{id}  {"type": "ptt.request", "talkgroup": "incident:7", "id": REQ}
    -> user:{id}  {"type": "ptt.release", "talkgroup": "incident:7", "id": REQ}

The hook only reads the request and calls :mod:`command_center.ptt.floor` in one transaction; the answers
and announcements leave through the outbox when it commits. ``clock`` is read at every request, so a test
(or ``app.state.clock``) decides what time it is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from command_center.auth.roles import Principal
from command_center.db import Database
from command_center.hub import Hub, Message
from command_center.periodic import Periodic
from command_center.ptt import cut, floor
from command_center.streams.placement import Process
from streaming import Relay

REQUESTS = ("ptt.request", "ptt.release")


async def install(
    hub: Hub,
    database: Database,
    *,
    max_hold: float,
    clock: Callable[[], datetime],
    here: Process,
    relay: Callable[[], Relay | None] = lambda: None,
) -> Periodic:
    """Answer ``ptt.*`` requests; return the time-out sweep (started and stopped by the caller).

    A speaker whose floor is taken back (time-out, pre-emption) has its spurt stream ended by the process
    whose relay holds it (:mod:`command_center.ptt.cut`), whichever process decided, so a page that keeps
    sending is heard by no one and its recording closes; its page also gets ``ptt.released`` on its own
    channel and stops.
    """

    # Who asked for a floor through this process: only they can hold one when their last connection here
    # closes, so a reconnect storm of thousands costs no database work for the many who never talk.
    talkers: set[int] = set()

    async def on_client_publish(principal: Principal, channel: str, message: Message) -> None:
        data = message.data
        kind = data.get("type")
        if kind not in REQUESTS or channel != f"user:{principal.id}":
            return
        if kind == "ptt.request":
            talkers.add(principal.id)
        async with database.session() as session:
            if kind == "ptt.request":
                decision = await floor.request(
                    session,
                    principal,
                    data.get("talkgroup"),
                    now=clock(),
                    max_hold=max_hold,
                    ref=data.get("id"),
                    stream_id=data.get("stream_id"),
                )
                await cut.order(session, decision.cut_stream, here)
            else:
                await floor.release(session, principal, data.get("talkgroup"), now=clock())

    async def on_gone(principal: Principal) -> None:
        # The talker's phone lost its connection mid-spurt: the others may talk now, not after the time-out.
        if principal.id not in talkers:
            return
        talkers.discard(principal.id)
        async with database.session() as session:
            await floor.release_all(session, principal, now=clock(), reason="disconnected")

    async def sweep() -> None:
        async with database.session() as session:
            taken = await floor.take_back_expired(session, now=clock(), max_hold=max_hold)
            for _, stream_id in taken:
                await cut.order(session, stream_id, here)

    await cut.install(hub, here, relay)
    hub.add_publish_hook(on_client_publish, channels="user:")
    hub.gone_hooks.append(on_gone)
    return Periodic("ptt floor time-out", sweep, interval=min(1.0, max_hold / 4))
