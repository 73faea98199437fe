"""Shared frames on the wire: the hub writes a message's WebSocket frame bytes, built once, to every socket.

Why: the profile of a 1,000-subscriber broadcast (benchmarks/RESULTS.md) spent most of the server's CPU per
delivery in the ASGI send path (Starlette's send wrapper, uvicorn's ``send`` coroutine, ``websockets``
framing the same text again for each connection) rather than in writing to the socket. Server frames are
not masked and the hub negotiates no compression, so one message is the same bytes for every subscriber.

``HubWebSocketProtocol`` is uvicorn's own ``websockets`` (sans-I/O) protocol with one addition: it offers
itself to the app as the ASGI scope extension ``EXTENSION``, through which a connection writes pre-built
frames straight to the transport, with the same guarantees as the ASGI send: nothing is written after a
close frame or once the client is gone, and nothing while the transport is paused (the client is behind;
the connection queues, bounded, and closes with 4408 as before). Serve the app with
``uvicorn.run(..., ws=PROTOCOL, ws_per_message_deflate=False)``; under any other server (or with
compression on) the extension is absent and connections use the ASGI send, unchanged.
"""

from __future__ import annotations

import asyncio
import enum
import time
from typing import Any, Protocol

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

#: The ASGI scope extension under which the protocol offers ``write_frame``.
EXTENSION = "command_center.shared_frames"
#: What to pass as uvicorn's ``ws`` setting.
PROTOCOL = "command_center.hub.wire:HubWebSocketProtocol"


class Written(enum.Enum):
    """What became of a frame handed to ``FrameSink.write_frame``."""

    done = "done"
    behind = "behind"  # the transport is paused: the client reads slower than we write; queue it
    gone = "gone"  # closing or closed: write nothing more


class FrameSink(Protocol):
    """Where a connection writes finished frames (``HubWebSocketProtocol`` implements it)."""

    def write_frame(self, data: bytes) -> Written: ...

    async def writable_again(self) -> None: ...


class Batched(Protocol):
    def flush_batch(self) -> None: ...


class StepWriter:
    """Connections with frames waiting for the end of the event loop's current step.

    A burst of messages handled in one step (a publisher's pipelined frames, a read of many pub/sub
    messages from Redis) reaches each subscriber as one socket write instead of one per message: the
    system call per write is what a broadcast costs most once frames are built once.
    """

    __slots__ = ("_pending", "_since", "max_wait")

    def __init__(self, max_wait: float = 0.005) -> None:
        self._pending: list[Batched] = []
        self._since = 0.0
        #: A long step (a burst of publishes handled back to back) flushes as it goes, so that batching
        #: never holds the first frames back by more than about this many seconds.
        self.max_wait = max_wait

    def add(self, owner: Batched) -> None:
        """Flush ``owner`` at the end of this step (call once per step and owner)."""
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
            self._since = time.monotonic()
        self._pending.append(owner)

    def flush_if_late(self) -> None:
        """Flush now if frames have waited ``max_wait`` (called once per message by the hub)."""
        if self._pending and time.monotonic() - self._since >= self.max_wait:
            self._flush()

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for owner in pending:
            owner.flush_batch()


def frame_sink(scope: dict[str, Any]) -> FrameSink | None:
    """The connection's frame sink, if the server offers one."""
    sink: FrameSink | None = (scope.get("extensions") or {}).get(EXTENSION)
    return sink


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, offering ``write_frame`` to the app for frames built once."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        # Compressed connections need frames of their own (the deflate context is per connection).
        if self.response.status_code == 101 and not self.config.ws_per_message_deflate:
            extensions: dict[str, Any] = self.scope["extensions"]
            extensions[EXTENSION] = self

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The handshake's request and response (headers and all, about 3.5 KB) are not read again:
            # an idle connection is mostly what it keeps.
            self.request = self.response = None  # type: ignore[assignment]

    def write_frame(self, data: bytes) -> Written:
        """Write a finished frame now, unless the client is behind or the connection is closing."""
        if self.disconnected or self.close_sent or self.conn.state is not State.OPEN:
            return Written.gone
        if not self.writable.is_set():
            return Written.behind
        self.transport.write(data)
        return Written.done

    async def writable_again(self) -> None:
        """Return once the transport takes data again (or the connection is gone)."""
        await self.writable.wait()
