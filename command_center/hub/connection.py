"""One WebSocket client: first-frame authentication, the op loop, and a bounded outgoing queue.

Outgoing frames go through ``send``, which never blocks the publisher: when nothing is waiting and the
socket is writable the frame is written at once (no task switch per delivery, which is what a broadcast
to thousands of clients costs most); otherwise it joins a bounded queue drained by the writer task.
Under the hub's uvicorn protocol (``wire.py``) a frame is written as finished WebSocket bytes, and a
broadcast message's bytes are built once for all subscribers (``Message.wire``); elsewhere it goes
through the ASGI send. When
the queue is full the client is not keeping up: it is closed with 4408 and recovers on reconnect with
``since``. Incoming frames are handled one at a time, so answers leave in request order (messages may
interleave); answers and history replays are paced by the client's reading, never dropped.

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
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.websockets import WebSocket

from command_center.auth.roles import Principal
from command_center.hub.broker.base import BrokerUnavailable
from command_center.hub.denials import DenialWindow
from command_center.hub.limits import TokenBucket
from command_center.hub.protocol import (
    BAD_REQUEST,
    CLOSE_GOING_AWAY,
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
    text_frame,
)
from command_center.hub.wire import FrameSink, StepWriter, Written
from command_center.settings import Settings

log = logging.getLogger(__name__)

ASGISend = Callable[[dict[str, Any]], Awaitable[None]]

_ids = itertools.count(1)
_PONG = dumps({"op": "pong"})
CLOSE_WAIT_SECONDS = 10.0


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
    ) -> Message: ...

    async def subscribe(self, connection: Connection, channel: str, since: Position | None) -> None: ...

    async def unsubscribe(self, connection: Connection, channel: str) -> None: ...

    async def presence(self, connection: Connection, channel: str) -> list[dict[str, Any]]: ...

    async def disconnect(self, connection: Connection) -> None: ...

    authenticate: Callable[[str], Awaitable[Principal]]


async def _finish(coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
    """Drive to its end a send coroutine that ``Connection.send`` started and that had to wait."""
    try:
        while True:
            if waiting is None:
                await asyncio.sleep(0)
            else:
                # Not ``await waiting``: the inner ``await`` already marked that future as awaited.
                await asyncio.wait({waiting})
            waiting = coro.send(None)
    except StopIteration:
        return
    finally:
        coro.close()


class Connection:
    """The server side of one authenticated client."""

    __slots__ = (
        "_batch",
        "_bucket",
        "_close_code",
        "_frames",
        "_inflight",
        "_ops",
        "_queue_size",
        "_raw_send",
        "_sink",
        "_space",
        "_task",
        "_writer",
        "denials",
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
        self.id = f"c{next(_ids)}"
        self.hub = hub
        self.principal = principal
        self.denials = DenialWindow(hub.clock)
        self._ops = TokenBucket(hub.settings.ws_op_rate)
        self.subscriptions: dict[str, Subscription] = {}
        self._raw_send = raw_send
        self._sink = sink
        self._batch: list[bytes] | None = None  # frames of this event-loop step (``StepWriter``)
        # Idle connections are the common case (10,000 of them must stay under 30 KiB each): the queue
        # and the writer task exist only while frames wait.
        self._frames: deque[Any] | None = None  # bytes with a sink, else str
        self._writer: asyncio.Task[None] | None = None
        self._queue_size = queue_size
        self._bucket = TokenBucket(publish_rate)
        self._close_code: int | None = None
        self._task: asyncio.Task[Any] | None = None
        self._space: asyncio.Future[None] | None = None
        self._inflight: tuple[Coroutine[Any, Any, Any], Any] | None = None

    @property
    def user(self) -> dict[str, object]:
        return self.principal.public()

    # -- outgoing ----------------------------------------------------------------------------------------

    def send(self, frame: str) -> None:
        """Send or queue a frame; never blocks. A full queue closes the connection with 4408."""
        if self._sink is not None:
            self._send_wire(text_frame(frame))
        else:
            self._send_text(frame)

    def _send_message(self, message: Message) -> None:
        if self._sink is not None:
            self._send_wire(message.wire)  # the same bytes for every subscriber
        else:
            self._send_text(message.frame)

    def _send_wire(self, data: bytes) -> None:
        if self._close_code is not None:
            return
        frames = self._frames
        if frames is None:  # nothing waits for the client: written at the end of this step
            batch = self._batch
            if batch is None:
                self._batch = [data]
                self.hub.writes.add(self)
            elif len(batch) >= self._queue_size:
                self._slow()
            else:
                batch.append(data)
            return
        if len(frames) >= self._queue_size:
            self._slow()
            return
        frames.append(data)

    def flush_batch(self) -> None:
        """Write this step's frames in one go; queue them if the client is behind."""
        batch, self._batch = self._batch, None
        if not batch or self._sink is None:
            return
        written = self._sink.write_frame(batch[0] if len(batch) == 1 else b"".join(batch))
        if written is Written.gone:
            self.close(CLOSE_GOING_AWAY)
        elif written is Written.behind:
            self._frames = deque(batch)
            self._start_writer()

    def _slow(self) -> None:
        log.info("hub: %s (%s) is not reading; closing with %d", self.id, self.principal.name, CLOSE_SLOW)
        self.close(CLOSE_SLOW)

    def _send_text(self, frame: str) -> None:
        if self._close_code is not None:
            return
        if self._writer is None:
            # Nothing waits to be written. The ASGI send of uvicorn only suspends when the transport is
            # paused (the client is behind): run it inline, and let a writer task finish it if it does.
            coro = self._raw_send({"type": "websocket.send", "text": frame})
            try:
                waiting = coro.send(None)  # type: ignore[attr-defined]
            except StopIteration:
                return
            except Exception:  # the client is gone
                self.close(CLOSE_GOING_AWAY)
                return
            self._inflight = (coro, waiting)  # type: ignore[assignment]
            self._start_writer()
            return
        frames = self._frames
        if frames is None:
            frames = self._frames = deque()
        if len(frames) >= self._queue_size:
            log.info("hub: %s (%s) is not reading; closing with %d", self.id, self.principal.name, CLOSE_SLOW)
            self.close(CLOSE_SLOW)
            return
        frames.append(frame)

    def _start_writer(self) -> None:
        write = self._write_wire() if self._sink is not None else self._write()
        writer = self._writer = asyncio.get_running_loop().create_task(write)
        writer.add_done_callback(self._writer_done)

    async def replay(self, message: Message) -> None:
        """Send a message of the channel's history, paced like ``send_paced``."""
        if await self._paced():
            self._send_message(message)

    async def send_paced(self, frame: str) -> None:
        """Queue an answer or a replayed message, keeping half the queue free for live traffic.

        Answers to the client's own requests and history replays wait for the client to read (which
        in turn stops reading its requests: TCP pushes back) instead of overflowing the queue; a client
        that reads nothing for ``CLOSE_WAIT_SECONDS`` is closed with 4408 all the same.
        """
        if await self._paced():
            self.send(frame)

    async def _paced(self) -> bool:
        """Wait until the queue is at most half full; False if the client read nothing meanwhile."""
        if self._batch is not None and len(self._batch) >= self._queue_size // 2:
            self.flush_batch()  # a long replay in one step: write (or queue) what it has so far
        if self._frames is not None and len(self._frames) >= self._queue_size // 2:
            space = self._space = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(CLOSE_WAIT_SECONDS):
                    await space
            except TimeoutError:
                self.close(CLOSE_SLOW)
                return False
        return True

    reply = send_paced

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

    async def _write(self) -> None:
        """Write what waits, in order, then end: the next ``send`` writes inline again."""
        raw_send, half = self._raw_send, self._queue_size // 2
        while True:
            if self._inflight is not None:
                coro, waiting = self._inflight
                await _finish(coro, waiting)
                self._inflight = None
                continue
            frames = self._frames
            if not frames:
                self._frames = None
                self._writer = None
                self._release_space()
                return
            frame = frames.popleft()
            if len(frames) < half:
                self._release_space()
            await raw_send({"type": "websocket.send", "text": frame})

    async def _write_wire(self) -> None:
        """Write what waits once the client reads again, in order, then end (``send`` writes inline)."""
        sink, half, frames = self._sink, self._queue_size // 2, self._frames
        assert sink is not None and frames is not None
        while frames:
            await sink.writable_again()
            while frames:
                written = sink.write_frame(frames[0])
                if written is Written.behind:
                    break
                if written is Written.gone:
                    raise ConnectionError("the client is gone")
                frames.popleft()
                if len(frames) < half:
                    self._release_space()
        self._frames = None
        self._writer = None
        self._release_space()

    def _release_space(self) -> None:
        space = self._space
        if space is not None:
            self._space = None
            if not space.done():
                space.set_result(None)

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

    def _writer_done(self, writer: asyncio.Task[None]) -> None:
        if writer.cancelled():
            return
        if writer.exception() is not None:  # the client is gone
            log.debug("hub: writer of %s ended: %r", self.id, writer.exception())
            self.close(CLOSE_GOING_AWAY)

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
            except BrokerUnavailable:
                log.warning("hub: broker unavailable; closing %s with %d", self.id, CLOSE_TRY_AGAIN)
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
            message = await hub.client_publish(self, channel, client_id, data)
            ack = {"op": "ack", "id": client_id, "channel": channel, "offset": message.offset}
            await self.reply(dumps(ack))
        elif op == "subscribe":
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
