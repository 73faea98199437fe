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

Handshakes: under ``upgrade.HubHttpProtocol`` (uvicorn's ``http`` setting) an upgrade to a direct path
is handed over as parsed once (``take_over``) and its 101 written from a template when the endpoint
accepts, instead of ``websockets`` parsing the request again and building a response object.

Idle connections: the protocol also serves the paths an app lists with ``serve_directly`` (the hub's
``/ws``) straight from their endpoint, past the HTTP middleware chain, whose dozen coroutine frames would
otherwise stay alive as long as each connection (about 5 KB each); every middleware of the app passes
WebSockets through untouched and the hub authenticates on its own. Its receive queue and writable flag are
``Inbox`` and ``Flag``: asyncio's ``Queue`` and ``Event`` hold four deques (about 3 KB) per connection.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Protocol

from uvicorn.config import Config
from uvicorn.protocols.utils import ClientDisconnected, get_client_addr, get_path_with_query_string
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.protocol import State
from websockets.server import ServerProtocol

log = logging.getLogger(__name__)
#: The logger uvicorn's WebSocket protocols log to (its access lines, and ``websockets``' own).
_UVICORN_ERROR = logging.getLogger("uvicorn.error")

#: The ASGI scope extension under which the protocol offers ``write_frame``.
EXTENSION = "command_center.shared_frames"
#: What to pass as uvicorn's ``ws`` setting.
PROTOCOL = "command_center.hub.wire:HubWebSocketProtocol"
#: The ``app.state`` attribute holding the paths served directly (``serve_directly``).
DIRECT_ROUTES = "direct_websockets"
_SWITCHING = (
    b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: "
)


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
    """When a connection's frames go out: at once while it is quiet, together at the end of a busy step.

    A subscriber that was written nothing in this event-loop step or the one before gets its frame at once,
    as a bare server would write it: the first subscribers of a broadcast need not wait for the hub to visit
    the thousandth (measured: the first of 1,000 subscribers had a broadcast 1.9 ms after it was sent when
    every write waited for the end of the step, 0.6 ms written at once; RESULTS.md). A subscriber written
    in this step or the last is in a burst (a publisher's pipelined frames, a read of many pub/sub messages
    from Redis): its frames wait for the end of the step and leave in one socket write, since the system
    call per write is what a broadcast costs most once frames are built once.

    ``step`` counts the loop's steps while frames move, and two quiet steps more, so that a connection
    written in the last busy step is seen as quiet again afterwards.
    """

    __slots__ = (
        "_active",
        "_ending",
        "_idle_ends",
        "_last_flush",
        "_pending",
        "_since",
        "clock",
        "max_wait",
        "most_wait",
        "step",
    )

    def __init__(
        self,
        max_wait: float = 0.005,
        most_wait: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self._pending: list[Batched] = []
        self._since = 0.0
        #: A long step (a burst of publishes handled back to back) flushes as it goes, once frames have
        #: waited this many seconds, or as long as the last flush took if that is longer (at most
        #: ``most_wait``): a burst to 5,000 subscribers spends as long gathering frames as writing them,
        #: instead of writing every message on its own once visiting 5,000 connections outlasts ``max_wait``.
        self.max_wait = max_wait
        self.most_wait = most_wait
        self._last_flush = 0.0
        self.step = 0
        self._active = False  # frames were written or batched in this step
        self._ending = False  # ``_end_step`` is scheduled
        self._idle_ends = 0

    def quiet_since(self, step: int) -> bool:
        """Whether a connection last written in ``step`` was written nothing in this step or the last."""
        return self.step - step > 1

    def wrote(self) -> int:
        """Note a frame written at once in this step; return the step (the writer's ``step``)."""
        self._active = True
        if not self._ending:
            self._schedule()
        return self.step

    def add(self, owner: Batched) -> None:
        """Flush ``owner`` at the end of this step (call once per step and owner)."""
        if not self._pending:
            self._since = self.clock()
        self._pending.append(owner)
        self._active = True
        if not self._ending:
            self._schedule()

    def flush_if_late(self) -> None:
        """Flush now if frames have waited long enough (called once per message by the hub)."""
        if not self._pending:
            return
        waited = self.clock() - self._since
        if waited >= self.max_wait and waited >= min(self._last_flush, self.most_wait):
            self._flush()

    def _schedule(self) -> None:
        self._ending = True
        asyncio.get_running_loop().call_soon(self._end_step)

    def _end_step(self) -> None:
        self._ending = False
        self.step += 1
        active, self._active = self._active or bool(self._pending), False
        self._idle_ends = 0 if active else self._idle_ends + 1
        self._flush()
        if self._idle_ends < 2 and not self._ending:
            self._schedule()

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        started = self.clock()
        for owner in pending:
            try:
                owner.flush_batch()
            except Exception:  # one bad connection never strands the others' frames
                log.exception("hub: writing a step's frames failed")
        self._last_flush = self.clock() - started


def frame_sink(scope: dict[str, Any]) -> FrameSink | None:
    """The connection's frame sink, if the server offers one."""
    sink: FrameSink | None = (scope.get("extensions") or {}).get(EXTENSION)
    return sink


def serve_directly(app: Any, path: str, endpoint: Any) -> None:
    """Have ``HubWebSocketProtocol`` serve WebSockets on ``path`` with ``endpoint``, past the middleware.

    Only for an endpoint that needs nothing of the app's middleware (the hub: its own authentication,
    and no HTTP response to decorate). Other servers route it through the app as usual.
    """
    routes: dict[str, Any] = getattr(app.state, DIRECT_ROUTES, None) or {}
    routes[path] = endpoint
    setattr(app.state, DIRECT_ROUTES, routes)


def direct_endpoint(app: Any, path: str, root_path: str = "") -> tuple[Any, Any] | None:
    """The app listing direct routes under uvicorn's wrappers, and its endpoint for ``path`` (if any)."""
    for _ in range(8):  # uvicorn's wrappers (proxy headers, message logger) each keep the next in .app
        state = getattr(app, "state", None)
        if state is not None and not callable(state):
            routes: dict[str, Any] = getattr(state, DIRECT_ROUTES, None) or {}
            endpoint = routes.get(path[len(root_path) :])
            return (app, endpoint) if endpoint is not None else None
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


class Inbox:
    """uvicorn's receive queue with one reader (the app's ``receive``), without asyncio.Queue's deques."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None  # made when a frame waits; most of the time none does
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        items = self._items
        item = items.popleft()
        if not items:
            self._items = None
        return item

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0


class Flag:
    """``asyncio.Event``'s ``set``/``clear``/``is_set``/``wait``, keeping no deque while nobody waits."""

    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        self._value = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> None:
        if self._value:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, offering ``write_frame`` to the app for frames built once."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """uvicorn's state of a connection, without the three objects uvicorn's own ``__init__`` makes and
        this class would throw away: an ``asyncio.Queue`` and ``Event`` (here ``Inbox`` and ``Flag``) and a
        ``websockets`` ``ServerProtocol``, made once it is known which one is needed (``connection_made``:
        one that parses the request, ``take_over``: one already open). In a 20,000-client storm the
        discarded ones cost the workers about 3 % of their CPU (RESULTS.md, 2026-12-02).

        ``tests/command_center/hub/test_wire.py`` holds the attributes set here to uvicorn's, so that a
        uvicorn release adding one fails a test instead of a connection.
        """
        if not config.loaded:
            config.load()
        self.config = config
        self.app = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.logger = _UVICORN_ERROR
        self.root_path = config.root_path
        self.asgi_version = config.asgi_version
        self.app_state = app_state
        self.connections = server_state.connections
        self.tasks = server_state.tasks
        self.default_headers = server_state.default_headers
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.server: tuple[str, int | None] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = None  # type: ignore[assignment]
        self.queue = Inbox()  # type: ignore[assignment]
        self.handshake_initiated = False
        self.handshake_complete = False
        self.close_sent = False
        self.disconnected = False
        self.close_timer = None
        self.close_timeout = 10.0
        self.initial_response = None
        self.conn = None  # type: ignore[assignment]
        self.read_paused = False
        writable = Flag()
        writable.set()
        self.writable = writable  # type: ignore[assignment]
        self.ping_interval = config.ws_ping_interval
        self.ping_timeout = config.ws_ping_timeout
        self.ping_timer = None
        self.pong_timer = None
        self.pending_ping_payload = None
        self.ping_sent_at = 0.0
        self.last_ping_rtt = 0.0
        self.frames = []
        self.curr_msg_data_type = "bytes"
        #: ``Sec-WebSocket-Accept`` of an upgrade taken over from the HTTP protocol (``take_over``).
        self._accept_key: bytes | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """The standard way: a ``ServerProtocol`` to parse the request, as uvicorn makes it."""
        extensions = []
        if self.config.ws_per_message_deflate:
            extensions = [
                ServerPerMessageDeflateFactory(
                    server_max_window_bits=12,
                    client_max_window_bits=12,
                    compress_settings={"memLevel": 5},
                )
            ]
        self.conn = ServerProtocol(
            extensions=extensions, max_size=self.config.ws_max_size, logger=_UVICORN_ERROR
        )
        super().connection_made(transport)

    def take_over(self, http: Any, upgrade: Any, app: Any, endpoint: Any) -> None:
        """Serve an upgrade that ``upgrade.HubHttpProtocol`` parsed and checked, on a direct route.

        What ``connection_made`` and ``handle_connect`` do, from the request as parsed once: the
        ``websockets`` protocol starts open (there is no request left for it to parse), and the 101 is
        written by ``send`` when the endpoint accepts.
        """
        self.connections.add(self)
        self.transport = http.transport
        self.server, self.client = http.server, http.client
        self.scheme = "wss" if http.scheme == "https" else "ws"
        self.conn = ServerProtocol(state=State.OPEN, max_size=self.config.ws_max_size, logger=_UVICORN_ERROR)
        self.handshake_initiated = True
        self._accept_key = upgrade.accept.encode("ascii")
        scope: dict[str, Any] = {
            "type": "websocket",
            "asgi": {"version": self.asgi_version, "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": self.scheme,
            "server": self.server,
            "client": self.client,
            "root_path": self.root_path,
            "path": upgrade.path,
            "raw_path": upgrade.raw_path,
            "query_string": upgrade.query_string,
            "headers": http.headers,
            "subprotocols": [],
            "state": http.scope["state"],
            "extensions": {EXTENSION: self},
            "app": app,
        }
        self.scope = scope  # type: ignore[assignment]
        self.app = endpoint
        self.queue.put_nowait({"type": "websocket.connect"})
        task = self.loop.create_task(self.run_asgi())
        task.add_done_callback(self.on_task_complete)
        self.tasks.add(task)

    async def _answer_upgrade(self, message: Any) -> None:
        """The endpoint's first message to an upgrade taken over: the 101, or a 403 if it refuses."""
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        kind = message["type"]
        if kind == "websocket.accept":
            if self.logger.isEnabledFor(logging.INFO):  # uvicorn's line, without its cost when not shown
                self.logger.info(
                    '%s - "WebSocket %s" [accepted]',
                    get_client_addr(self.scope),
                    get_path_with_query_string(self.scope),
                )
            if self.transport.is_closing():
                return
            assert self._accept_key is not None
            lines = [_SWITCHING, self._accept_key, b"\r\n"]
            for name, value in [*self.default_headers, *message.get("headers", ())]:
                lines += [name.lower(), b": ", value, b"\r\n"]
            if message.get("subprotocol"):
                lines += [b"sec-websocket-protocol: ", message["subprotocol"].encode("latin-1"), b"\r\n"]
            lines.append(b"\r\n")
            self.handshake_complete = True
            self.transport.write(b"".join(lines))
            self.start_keepalive()
        elif kind == "websocket.close":  # refused before accepting: 403, as uvicorn answers
            self.queue.put_nowait({"type": "websocket.disconnect", "code": 1006})
            self.logger.info(
                '%s - "WebSocket %s" 403', get_client_addr(self.scope), get_path_with_query_string(self.scope)
            )
            self.conn.send_response(self.conn.reject(HTTPStatus.FORBIDDEN, ""))
            self.close_sent = self.handshake_complete = True
            self.transport.write(b"".join(self.conn.data_to_send()))
            self.transport.close()
        else:
            raise RuntimeError(
                f"Expected ASGI message 'websocket.accept' or 'websocket.close' but got {kind!r}."
            )

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)  # builds the scope and creates the task that will call ``self.app``
        if self.response.status_code != 101:
            return  # refused (websockets answered it and closed): there is no scope and no app to call
        direct = direct_endpoint(self.app, self.scope["path"], self.scope.get("root_path", ""))
        if direct is not None:
            app, endpoint = direct
            self.scope["app"] = app  # type: ignore[typeddict-unknown-key]
            self.app = endpoint
        # Compressed connections need frames of their own (the deflate context is per connection).
        if not self.config.ws_per_message_deflate:
            extensions: dict[str, Any] = self.scope["extensions"]
            extensions[EXTENSION] = self

    async def send(self, message: Any) -> None:
        if self._accept_key is not None and not self.handshake_complete:
            await self._answer_upgrade(message)
            return
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The handshake's request and response (headers and all, about 3.5 KB) are not read again:
            # an idle connection is mostly what it keeps.
            self.request = self.response = None  # type: ignore[assignment]

    def write_frame(self, data: bytes) -> Written:
        """Write a finished frame now, unless the client is behind or the connection is closing."""
        if (
            self.disconnected
            or self.close_sent
            or not self.handshake_complete
            or self.conn.state is not State.OPEN
        ):
            return Written.gone
        if not self.writable.is_set():
            return Written.behind
        self.transport.write(data)
        return Written.done

    async def writable_again(self) -> None:
        """Return once the transport takes data again (or the connection is gone)."""
        await self.writable.wait()
