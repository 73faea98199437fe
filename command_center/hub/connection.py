"""One WebSocket client: the op loop over its frames, its channels, and its outgoing queue (``outgoing.py``).

Incoming frames are handled one at a time and answered in request order (messages may interleave). A
publish does not hold up the frames after it: it is checked, started, and acknowledged in order once the
broker stored it (``acks.py``); any other request first waits for the acks before it.

Every frame a client sends costs a token of the connection's bucket (``CC_WS_OP_RATE`` per second): a
client past its rate gets one ``rate_limited`` error and the connection stops reading until a token is
back, so a flood waits in the client's TCP buffers instead of in the server's CPU.

The module knows the hub only as the :class:`HubOps` protocol, so ``hub.py`` imports it and not the
reverse.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.websockets import WebSocket

from command_center.auth.roles import Principal
from command_center.hub.acks import PublishAcks
from command_center.hub.broker.base import BrokerUnavailable
from command_center.hub.denials import DenialWindow
from command_center.hub.limits import TokenBucket
from command_center.hub.outgoing import CLOSE_WAIT_SECONDS, ASGISend, Outgoing
from command_center.hub.protocol import (
    BAD_REQUEST,
    CLOSE_SLOW,
    CLOSE_TRY_AGAIN,
    NOT_SUBSCRIBED,
    RATE_LIMITED,
    TOO_LARGE,
    FrameError,
    Message,
    Position,
    check_depth,
    dumps,
    error_frame,
    parse_client_id,
    parse_frame,
    parse_since,
    require_channel,
    subscribed_frame,
)
from command_center.hub.wire import FrameSink, StepWriter
from command_center.settings import Settings

log = logging.getLogger(__name__)

_ids = itertools.count(1)
_PONG = dumps({"op": "pong"})
__all__ = ["CLOSE_WAIT_SECONDS", "Connection", "HubOps", "Subscription"]


@dataclass(slots=True)
class Subscription:
    """A connection's state on one channel: last offset sent, and a buffer while history is replayed.

    ``held``: the buffer holds live messages while the hub re-checks the right to the channel.
    """

    epoch: str = ""
    last: int = 0
    buffer: list[Message] | None = field(default_factory=list)
    held: bool = False


class HubOps(Protocol):
    """What a connection asks of the hub (``hub.Hub`` implements it)."""

    settings: Settings
    clock: Callable[[], float]
    writes: StepWriter

    async def client_publish(
        self, connection: Connection, channel: str, client_id: str | int, data: dict[str, Any]
    ) -> asyncio.Future[Message]:
        """Check a client's publish and start storing it; the future is the stored message."""
        ...

    async def subscribe(self, connection: Connection, channel: str, since: Position | None) -> None: ...

    async def unsubscribe(self, connection: Connection, channel: str) -> None: ...

    async def presence(self, connection: Connection, channel: str) -> list[dict[str, Any]]: ...

    async def disconnect(self, connection: Connection) -> None: ...

    authenticate: Callable[[str], Awaitable[Principal]]


class Connection(Outgoing):
    """The server side of one authenticated client."""

    __slots__ = (
        "_acks",
        "_bucket",
        "_ops",
        "_task",
        "denials",
        "expiry",
        "hub",
        "id",
        "principal",
        "subscriptions",
    )

    def __init__(
        self,
        hub: HubOps,
        principal: Principal,
        raw_send: ASGISend,
        queue_size: int,
        publish_rate: float,
        sink: FrameSink | None = None,
    ) -> None:
        super().__init__(hub.writes, raw_send, queue_size, sink)
        self.id = f"c{next(_ids)}"
        self.hub = hub
        self.principal = principal
        self.denials = DenialWindow(hub.clock)
        self._ops = TokenBucket(hub.settings.ws_op_rate)
        self.subscriptions: dict[str, Subscription] = {}
        self._bucket = TokenBucket(publish_rate)
        self._task: asyncio.Task[Any] | None = None
        self._acks: PublishAcks | None = None  # made by the first publish: most connections never publish
        #: The close at the end of the token's life (``Hub.admit``), cancelled when the connection ends.
        self.expiry: asyncio.TimerHandle | None = None

    @property
    def user(self) -> dict[str, object]:
        return self.principal.public()

    def _describe(self) -> str:
        return f"{self.id} ({self.principal.name})"

    def close(self, code: int) -> None:
        """End the connection with ``code`` (sent once the op loop has stopped)."""
        if self._close_code is not None:
            return
        self._close_code = code
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def deliver(self, message: Message) -> None:
        """Send a live message once, in order; hold it back while the channel's history is replayed."""
        sub = self.subscriptions.get(message.channel)
        if sub is None:
            return
        if sub.buffer is not None:
            sub.buffer.append(message)
            if len(sub.buffer) > self._queue_size:
                self.close(CLOSE_SLOW)
            return
        if message.offset <= sub.last and message.epoch == sub.epoch:
            return
        sub.last = message.offset
        sub.epoch = message.epoch
        self._send_message(message)

    def reset(self, channel: str, position: Position) -> None:
        """The channel's history was lost: say so, and continue from the new position."""
        sub = self.subscriptions.get(channel)
        if sub is None or sub.buffer is not None:
            return
        sub.last, sub.epoch = position.offset, position.epoch
        self.send(subscribed_frame(channel, position, False))

    async def reply(self, frame: str) -> None:
        """Answer the client after the acks of its earlier publishes, paced like ``send_paced``."""
        if self._acks is not None:
            await self._acks.settled()
        await self.send_paced(frame)

    # -- the connection's life -----------------------------------------------------------------------------

    async def run(self, websocket: WebSocket) -> None:
        """Serve the connection until the client leaves or ``close`` is called."""
        task = self._task = asyncio.current_task()
        try:
            await self._read(websocket)
        except asyncio.CancelledError:
            if self._close_code is None or task is None:
                raise
            task.uncancel()
        finally:
            self._task = None
            writer = self._writer
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer
            if self._inflight is not None:
                self._inflight[0].close()
                self._inflight = None
            await self.hub.disconnect(self)
        code = self._close_code
        if code is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_WAIT_SECONDS):
                    await websocket.close(code)

    async def _read(self, websocket: WebSocket) -> None:
        limit = self.hub.settings.ws_max_frame_bytes
        while self._close_code is None:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                return
            text = event.get("text")
            if text is None:
                await self.reply(error_frame(BAD_REQUEST, "binary frames are not accepted; send JSON text"))
                continue
            if len(text) > limit // 4 and len(text.encode()) > limit:
                await self.reply(error_frame(TOO_LARGE, f"frame exceeds {limit} bytes"))
                continue
            if not self._ops.take():
                await self.reply(error_frame(RATE_LIMITED, "too many frames; slow down"))
                await asyncio.sleep(self._ops.wait())  # read nothing meanwhile: TCP pushes back
                continue
            try:
                await self._handle(text)
            except FrameError as exc:
                await self.reply(error_frame(exc.code, exc.detail, exc.ref))
            except BrokerUnavailable as exc:
                log.warning("hub: %s; closing %s with %d", exc, self.id, CLOSE_TRY_AGAIN)
                self.close(CLOSE_TRY_AGAIN)
                return
            except (ValueError, TypeError, RecursionError) as exc:  # a frame no check foresaw: say so, stay
                log.warning("hub: frame of %s could not be handled: %r", self.id, exc)
                await self.reply(error_frame(BAD_REQUEST, "this frame could not be handled"))

    async def _handle(self, text: str) -> None:
        frame = parse_frame(text)
        op = frame["op"]
        hub = self.hub
        if op == "publish":
            client_id = parse_client_id(frame)
            channel = require_channel(frame, client_id)
            data = frame.get("data")
            if not isinstance(data, dict) or not isinstance(data.get("type"), str):
                raise FrameError(BAD_REQUEST, "publish needs 'data', an object with a 'type'", client_id)
            check_depth(data, client_id)
            if not self._bucket.take():
                raise FrameError(RATE_LIMITED, "too many publishes; slow down", client_id)
            acks = self._acks
            if acks is None:
                acks = self._acks = PublishAcks(self.send, self.close)
            await acks.room()
            if not await self._paced():  # acks are sent unpaced: a client that reads nothing stops being read
                return
            acks.add(await hub.client_publish(self, channel, client_id, data), client_id, channel)
            return
        if self._acks is not None:
            await self._acks.settled()
        if op == "subscribe":
            channel = require_channel(frame)
            since = parse_since(frame)
            await hub.subscribe(self, channel, since)
        elif op == "unsubscribe":
            channel = require_channel(frame)
            if channel not in self.subscriptions:
                raise FrameError(NOT_SUBSCRIBED, f"not subscribed to {channel}")
            await hub.unsubscribe(self, channel)
            await self.reply(dumps({"op": "unsubscribed", "channel": channel}))
        elif op == "presence":
            channel = require_channel(frame)
            users = await hub.presence(self, channel)
            await self.reply(dumps({"op": "presence", "channel": channel, "users": users}))
        elif op == "ping":
            await self.reply(_PONG)
        elif op == "auth":
            raise FrameError(BAD_REQUEST, "already authenticated")
        else:
            raise FrameError(BAD_REQUEST, f"unknown op {op[:40]!r}")
