"""A Python client for the hub with automatic reconnect, failover and recovery.

::

    async with HubClient(["ws://a:8000/ws", "ws://b:8000/ws"], token) as hub:
        await hub.subscribe("board")
        ack = await hub.publish("taskforce:3", {"type": "note", "id": 1, "drill": False})
        async for event in hub:
            if event.kind == "reset":      # history could not fill the gap: reload the REST snapshot
                ...
            else:
                print(event.channel, event.offset, event.data)

After a lost connection it reconnects with backoff (trying the URLs in turn), resubscribes every channel
with ``since`` = the last (offset, epoch) it delivered, and resends every publish not yet acknowledged with
the same client id (the server acknowledges a repeated id with the original offset and does not publish it
twice). Messages are handed over once each, in offset order; ``duplicates`` and ``gaps`` count anything the
client had to drop or could not explain (both stay 0 against a correct server).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from command_center.errors import CommandCenterError
from command_center.hub.protocol import CLOSE_AUTH, Position

log = logging.getLogger(__name__)

_ANSWERS = {"unsubscribed": "unsubscribe", "presence": "presence", "pong": "ping"}

TokenSource = str | Callable[[], str | Awaitable[str]]


class HubError(CommandCenterError):
    """The server answered a request with an ``error`` frame."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


class HubAuthError(HubError):
    """The server refused the token (close 4401); the client stops reconnecting."""


class ConnectionLost(CommandCenterError):
    """The connection dropped before the request was answered; it was not retried."""


@dataclass(frozen=True, slots=True)
class Event:
    """A message of a subscribed channel, or a ``reset``: the channel continues at ``offset`` in ``epoch``
    and what came before could not be recovered (reload the snapshot), or ``ended``: the server ended the
    subscription (``data`` holds its ``reason``, e.g. ``forbidden``) and will not be asked for it again."""

    kind: Literal["message", "reset", "ended"]
    channel: str
    offset: int
    epoch: str
    data: dict[str, Any] | None = None
    ts: str | None = None


class HubClient:
    """One logical hub session that survives reconnects."""

    def __init__(
        self,
        urls: str | Sequence[str],
        token: TokenSource,
        *,
        on_reset: Callable[[str, Position], Any] | None = None,
        min_backoff: float = 0.05,
        max_backoff: float = 2.0,
        open_timeout: float = 5.0,
        ping_interval: float | None = 20.0,
    ) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls:
            raise ValueError("HubClient needs at least one URL")
        self._token = token
        self._on_reset = on_reset
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._open_timeout = open_timeout
        self._ping_interval = ping_interval
        self.user: dict[str, Any] | None = None
        self.url: str | None = None
        #: Channels wanted, with the position last delivered (None: not yet subscribed).
        self.positions: dict[str, Position | None] = {}
        self.connections = 0  # how many times a connection was established
        self.duplicates = 0
        self.gaps = 0
        self.resets = 0
        self.connected = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._inbox: asyncio.Queue[Event] = asyncio.Queue()
        self._requests: deque[tuple[str, str | None, asyncio.Future[Any]]] = deque()
        self._sub_waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._publishes: OrderedDict[Any, tuple[str, asyncio.Future[dict[str, Any]]]] = OrderedDict()
        self._runner: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None
        self._closed = False
        self._fatal: BaseException | None = None
        self._url_index = 0
        self._callbacks: set[asyncio.Future[Any]] = set()

    # -- lifecycle ------------------------------------------------------------------------------------

    async def __aenter__(self) -> HubClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Start the session; return once the first connection is authenticated."""
        self._first = asyncio.get_running_loop().create_future()
        self._runner = asyncio.create_task(self._run(), name="hub-client")
        await self._first

    async def close(self) -> None:
        self._closed = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
        self._fail_all(ConnectionLost("client closed"))

    # -- requests ------------------------------------------------------------------------------------

    async def subscribe(self, channel: str, since: Position | None = None) -> dict[str, Any]:
        """Subscribe (or recover from ``since``); return the ``subscribed`` frame. Survives reconnects."""
        self._check_fatal()
        if since is not None:
            self.positions[channel] = since
        else:
            self.positions.setdefault(channel, None)
        waiter = self._sub_waiters.get(channel)
        if waiter is None or waiter.done():
            waiter = self._sub_waiters[channel] = asyncio.get_running_loop().create_future()
        if self._ws is not None and self.connected.is_set():
            await self._send_subscribe(self._ws, channel)
        return await waiter

    async def unsubscribe(self, channel: str) -> None:
        self.positions.pop(channel, None)
        self._sub_waiters.pop(channel, None)
        await self._request({"op": "unsubscribe", "channel": channel}, "unsubscribe", channel)

    async def presence(self, channel: str) -> list[dict[str, Any]]:
        frame = await self._request({"op": "presence", "channel": channel}, "presence", channel)
        return frame["users"]  # type: ignore[no-any-return]

    async def ping(self) -> None:
        await self._request({"op": "ping"}, "ping", None)

    async def publish(
        self, channel: str, data: dict[str, Any], id: str | int | None = None
    ) -> dict[str, Any]:
        """Publish and wait for the ``ack``; resent with the same id across reconnects until acknowledged."""
        self._check_fatal()
        client_id = id if id is not None else uuid.uuid4().hex
        text = json.dumps({"op": "publish", "channel": channel, "id": client_id, "data": data})
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._publishes[client_id] = (text, future)
        ws = self._ws
        if ws is not None and self.connected.is_set():
            with contextlib.suppress(ConnectionClosed):
                await ws.send(text)
        try:
            return await future
        finally:
            self._publishes.pop(client_id, None)

    async def next(self) -> Event:
        """The next message or reset event (wrap in ``asyncio.wait_for`` for a time limit)."""
        return await self._inbox.get()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self._inbox.get()

    def pending(self) -> int:
        """Messages received and not yet taken."""
        return self._inbox.qsize()

    async def _request(self, frame: dict[str, Any], kind: str, channel: str | None) -> dict[str, Any]:
        self._check_fatal()
        await self.connected.wait()
        ws = self._ws
        assert ws is not None
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._requests.append((kind, channel, future))
        try:
            await ws.send(json.dumps(frame))
        except ConnectionClosed as exc:
            raise ConnectionLost(str(exc)) from exc
        return await future

    async def _send_subscribe(self, ws: ClientConnection, channel: str) -> None:
        frame: dict[str, Any] = {"op": "subscribe", "channel": channel}
        position = self.positions.get(channel)
        if position is not None:
            frame["since"] = {"offset": position.offset, "epoch": position.epoch}
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._requests.append(("subscribe", channel, future))
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps(frame))

    def _check_fatal(self) -> None:
        if self._fatal is not None:
            raise self._fatal

    # -- the connection loop --------------------------------------------------------------------------------

    async def _token_value(self) -> str:
        token = self._token
        if isinstance(token, str):
            return token
        value = token()
        if inspect.isawaitable(value):
            value = await value
        return value

    async def _run(self) -> None:
        delay = self._min_backoff
        while not self._closed:
            url = self.urls[self._url_index % len(self.urls)]
            self._url_index += 1
            try:
                async with connect(
                    url,
                    compression=None,
                    open_timeout=self._open_timeout,
                    ping_interval=self._ping_interval,
                    max_size=None,
                    max_queue=64,
                ) as ws:
                    await self._session(ws, url)
                    delay = self._min_backoff
            except HubAuthError as exc:
                self._fatal = exc
                self._fail_all(exc)
                return
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, InvalidURI, ValueError) as exc:
                log.debug("hub client: connection to %s ended: %r", url, exc)
            finally:
                self._ws = None
                self.connected.clear()
                self._drop_requests()
            if self._closed:
                return
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, self._max_backoff)

    async def _session(self, ws: ClientConnection, url: str) -> None:
        await ws.send(json.dumps({"op": "auth", "token": await self._token_value()}))
        try:
            raw = await asyncio.wait_for(ws.recv(), self._open_timeout)
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code == CLOSE_AUTH:
                raise HubAuthError("unauthorized", exc.rcvd.reason or "authentication refused") from exc
            raise
        welcome = json.loads(raw)
        if welcome.get("op") != "welcome":
            raise ConnectionLost(f"expected welcome, got {raw!r:.200}")
        self.user = welcome["user"]
        self.url = url
        self._ws = ws
        self.connections += 1
        # Resubscribe and resend until nothing new was asked for meanwhile; then (with no await in
        # between) mark the session connected, after which requests are sent directly.
        subscribed: set[str] = set()
        resent: set[Any] = set()
        while True:
            channels = [c for c in self.positions if c not in subscribed]
            publishes = [(k, t) for k, (t, _) in self._publishes.items() if k not in resent]
            if not channels and not publishes:
                break
            for channel in channels:
                subscribed.add(channel)
                await self._send_subscribe(ws, channel)
            for key, text in publishes:
                resent.add(key)
                await ws.send(text)
        self.connected.set()
        if self._first is not None and not self._first.done():
            self._first.set_result(None)
        async for raw in ws:
            self._handle(json.loads(raw))

    def _drop_requests(self) -> None:
        """Fail the requests of a lost connection; subscriptions and publishes are redone on reconnect."""
        while self._requests:
            kind, _, future = self._requests.popleft()
            if kind != "subscribe" and not future.done():
                future.set_exception(ConnectionLost("connection lost before the answer"))

    def _fail_all(self, exc: BaseException) -> None:
        self._drop_requests()
        for future in [*self._sub_waiters.values(), *(f for _, f in self._publishes.values())]:
            if not future.done():
                future.set_exception(exc)
        if self._first is not None and not self._first.done():
            self._first.set_exception(exc)

    def _pop_request(self, kind: str | None, channel: str | None) -> asyncio.Future[Any] | None:
        if not self._requests:
            return None
        head_kind, head_channel, future = self._requests[0]
        if kind is not None and (head_kind != kind or (channel is not None and head_channel != channel)):
            return None
        self._requests.popleft()
        return future

    def _handle(self, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op == "message":
            self._on_message(frame)
        elif op == "ack":
            entry = self._publishes.get(frame.get("id"))
            if entry is not None and not entry[1].done():
                entry[1].set_result(frame)
        elif op == "subscribed":
            self._on_subscribed(frame)
        elif op == "error":
            self._on_error(frame)
        elif op == "unsubscribed" and frame.get("reason"):  # the server ended it: do not resubscribe
            channel = str(frame.get("channel"))
            self.positions.pop(channel, None)
            self._inbox.put_nowait(Event("ended", channel, 0, "", {"reason": frame["reason"]}))
        elif op in {"unsubscribed", "presence", "pong"}:
            future = self._pop_request(_ANSWERS[op], frame.get("channel"))
            if future is not None and not future.done():
                future.set_result(frame)

    def _on_message(self, frame: dict[str, Any]) -> None:
        channel = frame["channel"]
        if channel not in self.positions:
            return  # unsubscribed meanwhile
        offset, epoch = frame["offset"], frame["epoch"]
        last = self.positions[channel]
        if last is not None and last.epoch == epoch:
            if offset <= last.offset:
                self.duplicates += 1
                return
            if offset != last.offset + 1:
                self.gaps += 1
                log.warning("hub client: gap on %s: %d -> %d", channel, last.offset, offset)
        self.positions[channel] = Position(offset, epoch)
        self._inbox.put_nowait(Event("message", channel, offset, epoch, frame.get("data"), frame.get("ts")))

    def _on_subscribed(self, frame: dict[str, Any]) -> None:
        channel = frame["channel"]
        position = Position(frame["offset"], frame["epoch"])
        future = self._pop_request("subscribe", channel)
        if channel in self.positions:
            recovered = frame.get("recovered")
            if recovered is False:
                self.resets += 1
                self._inbox.put_nowait(Event("reset", channel, position.offset, position.epoch))
                if self._on_reset is not None:
                    result = self._on_reset(channel, position)
                    if inspect.isawaitable(result):
                        task = asyncio.ensure_future(result)
                        self._callbacks.add(task)
                        task.add_done_callback(self._callbacks.discard)
            if recovered is not True:
                self.positions[channel] = position
            # recovered: the missed messages follow and advance the position themselves.
        if future is not None and not future.done():
            future.set_result(frame)
        waiter = self._sub_waiters.get(channel)
        if waiter is not None and not waiter.done():
            waiter.set_result(frame)

    def _on_error(self, frame: dict[str, Any]) -> None:
        error = HubError(frame.get("code", "error"), frame.get("detail", ""))
        ref = frame.get("ref")
        if ref is not None and ref in self._publishes:
            future = self._publishes[ref][1]
            if not future.done():
                future.set_exception(error)
            return
        if not self._requests:
            log.warning("hub client: unsolicited error %s", frame)
            return
        kind, channel, future = self._requests.popleft()
        if kind == "subscribe" and channel is not None:
            self.positions.pop(channel, None)
            waiter = self._sub_waiters.pop(channel, None)
            if waiter is not None and not waiter.done():
                waiter.set_exception(error)
        if not future.done():
            future.set_exception(error)
