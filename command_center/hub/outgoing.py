"""A connection's outgoing side: frames written at once or queued, bounded, in order; never blocking.

Outgoing frames go through ``send``, which never blocks the publisher: when nothing is waiting and the
socket is writable the frame is written at once (no task switch per delivery, which is what a broadcast
to thousands of clients costs most); otherwise it joins a bounded queue drained by the writer task.
Under the hub's uvicorn protocol (``wire.py``) a frame is written as finished WebSocket bytes, and a
broadcast message's bytes are built once for all subscribers (``Message.wire``), written at once to a quiet
connection and in one write per step to a busy one (``wire.StepWriter``); elsewhere it goes through the ASGI
send. When the queue is full the client is not keeping up: it is closed with 4408 and recovers on reconnect
with ``since``. Answers and history replays are paced by the client's reading (``send_paced``), never
dropped.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from command_center.hub.protocol import CLOSE_GOING_AWAY, CLOSE_SLOW, Message, text_frame
from command_center.hub.wire import FrameSink, StepWriter, Written

log = logging.getLogger(__name__)

ASGISend = Callable[[dict[str, Any]], Awaitable[None]]
CLOSE_WAIT_SECONDS = 10.0


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


class Outgoing(ABC):
    """The bounded outgoing queue of one client; ``Connection`` adds the op loop and channels."""

    __slots__ = (
        "_batch",
        "_close_code",
        "_frames",
        "_inflight",
        "_queue_size",
        "_raw_send",
        "_sink",
        "_space",
        "_step",
        "_writer",
        "_writes",
    )

    def __init__(
        self, writes: StepWriter, raw_send: ASGISend, queue_size: int, sink: FrameSink | None
    ) -> None:
        self._writes = writes
        self._raw_send = raw_send
        self._sink = sink
        self._batch: list[bytes] | None = None  # frames of this event-loop step (``StepWriter``)
        self._step = -2  # the step of the last write (``StepWriter.quiet_since``)
        # Idle connections are the common case (10,000 of them must stay under 30 KiB each): the queue
        # and the writer task exist only while frames wait.
        self._frames: deque[Any] | None = None  # bytes with a sink, else str
        self._writer: asyncio.Task[None] | None = None
        self._queue_size = queue_size
        self._close_code: int | None = None
        self._space: asyncio.Future[None] | None = None
        self._inflight: tuple[Coroutine[Any, Any, Any], Any] | None = None

    @abstractmethod
    def close(self, code: int) -> None:
        """Close the socket with ``code`` (the connection knows how; the queue only decides when)."""

    def _describe(self) -> str:
        return "a connection"

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
        if frames is None:  # nothing waits for the client: written now, or at the end of a busy step
            batch = self._batch
            if batch is None:
                writes = self._writes
                if writes.quiet_since(self._step):
                    self._step = writes.wrote()
                    self._write_out(data, None)
                    return
                self._batch = [data]
                writes.add(self)
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
        if batch:
            self._step = self._writes.step
            self._write_out(batch[0] if len(batch) == 1 else b"".join(batch), batch)

    def _write_out(self, data: bytes, batch: list[bytes] | None) -> None:
        """Write ``data`` (the frames of ``batch``, or one frame); queue them if the client is behind."""
        if self._sink is None:
            return
        written = self._sink.write_frame(data)
        if written is Written.gone:
            self.close(CLOSE_GOING_AWAY)
        elif written is Written.behind:
            self._frames = deque(batch) if batch is not None else deque((data,))
            self._start_writer()

    def _slow(self) -> None:
        log.info("hub: %s is not reading; closing with %d", self._describe(), CLOSE_SLOW)
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
            self._slow()
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

    def _writer_done(self, writer: asyncio.Task[None]) -> None:
        if writer.cancelled():
            return
        if writer.exception() is not None:  # the client is gone
            log.debug("hub: writer of %s ended: %r", self._describe(), writer.exception())
            self.close(CLOSE_GOING_AWAY)
