"""A connection's publishes in flight: started in request order, acknowledged in request order.

Why: a client's publishes used to wait for each other (the op loop awaited the broker before reading
the next frame), so a publisher's hundred messages took a hundred broker round trips one after another
(the Redis profile in benchmarks/RESULTS.md). Now the op loop checks a publish (frame, rate, permission),
starts storing it and reads on; the broker keeps the order the publishes were started in, and the acks
leave in that order as the stores finish. Any other request waits for the acks before it (``settled``),
so every answer still leaves in the order the requests came.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from command_center.hub.broker.base import BrokerUnavailable
from command_center.hub.protocol import BAD_REQUEST, CLOSE_TRY_AGAIN, Message, dumps, error_frame

log = logging.getLogger(__name__)

#: Publishes of one connection in flight at most; the op loop waits for the oldest past that.
MAX_IN_FLIGHT = 64


class PublishAcks:
    """The stores in flight of one connection, each with the client id and channel its ack names."""

    __slots__ = ("_fail", "_idle", "_pending", "_send")

    def __init__(self, send: Callable[[str], None], fail: Callable[[int], None]) -> None:
        self._send = send
        #: Called with a close code when the broker failed a store (the client retries after reconnecting).
        self._fail = fail
        self._pending: deque[tuple[asyncio.Future[Message], str | int, str]] = deque()
        self._idle: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, stored: asyncio.Future[Message], client_id: str | int, channel: str) -> None:
        """Ack ``stored`` after every earlier one, once it is done."""
        self._pending.append((stored, client_id, channel))
        stored.add_done_callback(self._settle)

    async def room(self) -> None:
        """Wait until fewer than ``MAX_IN_FLIGHT`` publishes are in flight."""
        while len(self._pending) >= MAX_IN_FLIGHT:
            await asyncio.wait({self._pending[0][0]})

    async def settled(self) -> None:
        """Wait until every publish started so far has been answered."""
        while self._pending:
            idle = self._idle
            if idle is None:
                idle = self._idle = asyncio.get_running_loop().create_future()
            await asyncio.shield(idle)

    def _settle(self, _: object) -> None:
        pending = self._pending
        while pending and pending[0][0].done():
            stored, client_id, channel = pending.popleft()
            self._answer(stored, client_id, channel)
        if not pending and self._idle is not None:
            idle, self._idle = self._idle, None
            if not idle.done():
                idle.set_result(None)

    def _answer(self, stored: asyncio.Future[Message], client_id: str | int, channel: str) -> None:
        if stored.cancelled():
            return
        exc = stored.exception()
        if exc is None:
            offset = stored.result().offset
            self._send(dumps({"op": "ack", "id": client_id, "channel": channel, "offset": offset}))
        elif isinstance(exc, BrokerUnavailable):
            log.warning("hub: broker unavailable for a publish on %s: %s", channel, exc)
            self._fail(CLOSE_TRY_AGAIN)
        elif isinstance(exc, ValueError | TypeError | RecursionError):  # data no check foresaw: say so
            log.warning("hub: publish on %s could not be stored: %r", channel, exc)
            self._send(error_frame(BAD_REQUEST, "this frame could not be handled", client_id))
        else:
            log.error("hub: publish on %s failed", channel, exc_info=exc)
            self._fail(CLOSE_TRY_AGAIN)
