"""One WebSocket client: first-frame authentication, the op loop, and a bounded outgoing queue.

Outgoing frames go through ``send`` into a bounded queue drained by one writer task, so a publisher never
waits for a subscriber. When the queue is full the client is not keeping up: it is closed with 4408 and
recovers on reconnect with ``since``. Incoming frames are handled one at a time, so answers to requests
leave in request order (messages may interleave).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from command_center.auth.roles import Principal
from command_center.errors import CommandCenterError
from command_center.hub.broker.base import BrokerUnavailable
from command_center.hub.protocol import (
    BAD_REQUEST,
    CLOSE_AUTH,
    CLOSE_SLOW,
    CLOSE_TRY_AGAIN,
    NOT_SUBSCRIBED,
    RATE_LIMITED,
    TOO_LARGE,
    FrameError,
    Message,
    Position,
    dumps,
    error_frame,
    parse_client_id,
    parse_frame,
    parse_since,
    require_channel,
    subscribed_frame,
)

if TYPE_CHECKING:
    from command_center.hub.hub import Hub

log = logging.getLogger(__name__)

_ids = itertools.count(1)
_PONG = dumps({"op": "pong"})
_CLOSE_WAIT_SECONDS = 10.0


@dataclass(slots=True)
class Subscription:
    """A connection's state on one channel: last offset sent, and a buffer while history is replayed."""

    epoch: str = ""
    last: int = 0
    buffer: list[Message] | None = field(default_factory=list)


class TokenBucket:
    """``rate`` operations per second with a burst of one second's worth."""

    __slots__ = ("_capacity", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class Connection:
    """The server side of one authenticated client."""

    def __init__(self, hub: Hub, principal: Principal, queue_size: int, publish_rate: float) -> None:
        self.id = f"c{next(_ids)}"
        self.hub = hub
        self.principal = principal
        self.user = principal.public()
        self.subscriptions: dict[str, Subscription] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self._queue_size = queue_size
        self._bucket = TokenBucket(publish_rate)
        self._closing: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._space = asyncio.Event()
        self._space.set()

    # -- outgoing ----------------------------------------------------------------------------------------

    def send(self, frame: str) -> None:
        """Queue a frame; never blocks. A full queue closes the connection with 4408."""
        if self._closing.done():
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.info("hub: %s (%s) is not reading; closing with %d", self.id, self.principal.name, CLOSE_SLOW)
            self.close(CLOSE_SLOW)

    async def send_paced(self, frame: str) -> None:
        """Queue a frame of a replay, keeping half the queue free for live traffic.

        A replay (up to a whole history) waits for the client to read instead of overflowing the queue;
        a client that reads nothing for ``_CLOSE_WAIT_SECONDS`` is closed with 4408 all the same.
        """
        if self._queue.qsize() >= self._queue_size // 2:
            self._space.clear()
            try:
                await asyncio.wait_for(self._space.wait(), _CLOSE_WAIT_SECONDS)
            except TimeoutError:
                self.close(CLOSE_SLOW)
                return
        self.send(frame)

    def close(self, code: int) -> None:
        if not self._closing.done():
            self._closing.set_result(code)

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
        self.send(message.frame)

    def reset(self, channel: str, position: Position) -> None:
        """The channel's history was lost: say so, and continue from the new position."""
        sub = self.subscriptions.get(channel)
        if sub is None or sub.buffer is not None:
            return
        sub.last, sub.epoch = position.offset, position.epoch
        self.send(subscribed_frame(channel, position, False))

    async def _write(self, websocket: WebSocket) -> None:
        queue, space, half = self._queue, self._space, self._queue_size // 2
        while True:
            frame = await queue.get()
            if not space.is_set() and queue.qsize() < half:
                space.set()
            await websocket.send_text(frame)

    # -- the connection's life -----------------------------------------------------------------------------

    async def run(self, websocket: WebSocket) -> None:
        writer = asyncio.create_task(self._write(websocket))
        reader = asyncio.create_task(self._read(websocket))
        try:
            await asyncio.wait({writer, reader, self._closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, writer):
                task.cancel()
            for task in (reader, writer):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.hub.disconnect(self)
        if self._closing.done():
            code = self._closing.result()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.close(code), _CLOSE_WAIT_SECONDS)

    async def _read(self, websocket: WebSocket) -> None:
        limit = self.hub.settings.ws_max_frame_bytes
        while True:
            event = await websocket.receive()
            if event["type"] == "websocket.disconnect":
                return
            text = event.get("text")
            if text is None:
                self.send(error_frame(BAD_REQUEST, "binary frames are not accepted; send JSON text"))
                continue
            if len(text) > limit // 4 and len(text.encode()) > limit:
                self.send(error_frame(TOO_LARGE, f"frame exceeds {limit} bytes"))
                continue
            try:
                await self._handle(text)
            except FrameError as exc:
                self.send(error_frame(exc.code, exc.detail, exc.ref))
            except BrokerUnavailable:
                log.warning("hub: broker unavailable; closing %s with %d", self.id, CLOSE_TRY_AGAIN)
                self.close(CLOSE_TRY_AGAIN)
                return

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
            if not self._bucket.take():
                raise FrameError(RATE_LIMITED, "too many publishes; slow down", client_id)
            message = await hub.client_publish(self, channel, client_id, data)
            self.send(dumps({"op": "ack", "id": client_id, "channel": channel, "offset": message.offset}))
        elif op == "subscribe":
            channel = require_channel(frame)
            since = parse_since(frame)
            await hub.subscribe(self, channel, since)
        elif op == "unsubscribe":
            channel = require_channel(frame)
            if channel not in self.subscriptions:
                raise FrameError(NOT_SUBSCRIBED, f"not subscribed to {channel}")
            await hub.unsubscribe(self, channel)
            self.send(dumps({"op": "unsubscribed", "channel": channel}))
        elif op == "presence":
            channel = require_channel(frame)
            users = await hub.presence(self, channel)
            self.send(dumps({"op": "presence", "channel": channel, "users": users}))
        elif op == "ping":
            self.send(_PONG)
        elif op == "auth":
            raise FrameError(BAD_REQUEST, "already authenticated")
        else:
            raise FrameError(BAD_REQUEST, f"unknown op {op[:40]!r}")


async def authenticate_first_frame(hub: Hub, websocket: WebSocket) -> Principal | None:
    """Read the ``auth`` frame within the time limit; close with 4401 and return None if it fails."""
    settings = hub.settings
    try:
        event = await asyncio.wait_for(websocket.receive(), settings.ws_auth_timeout_seconds)
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
        await asyncio.wait_for(websocket.close(code, reason), _CLOSE_WAIT_SECONDS)
