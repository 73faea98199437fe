"""The hub: channels, subscriptions and fan-out for one server process, over a shared broker.

The lead's app builds it in the lifespan::

    hub = Hub(settings=settings, broker=create_broker(settings.broker_url, ...),
              authenticate=authenticate, on_denied=audit_denial)
    await hub.start()
    ...
    await hub.close()

Domain services publish with ``await hub.publish(channel, data)`` and add channel rules with
``hub.policy.register(prefix, checker)``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from command_center.auth.roles import Principal
from command_center.hub.broker.base import Broker
from command_center.hub.connection import Connection, Subscription
from command_center.hub.policy import Action, ChannelPolicy, Verdict
from command_center.hub.protocol import (
    CHANNEL_RE,
    CLOSE_GOING_AWAY,
    FORBIDDEN,
    UNKNOWN_CHANNEL,
    FrameError,
    Message,
    Position,
    subscribed_frame,
)
from command_center.settings import Settings

log = logging.getLogger(__name__)

Authenticate = Callable[[str], Awaitable[Principal]]
OnDenied = Callable[[Principal, str, str], Awaitable[None]]
PublishHook = Callable[[Principal, str, Message], Awaitable[None]]


class Hub:
    """Routes broker messages to the WebSocket connections of this process."""

    def __init__(
        self,
        *,
        settings: Settings,
        broker: Broker,
        authenticate: Authenticate,
        on_denied: OnDenied | None = None,
        policy: ChannelPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.authenticate = authenticate
        self.on_denied = on_denied
        self.policy = policy if policy is not None else ChannelPolicy()
        self.connections: set[Connection] = set()
        self._subscribers: dict[str, set[Connection]] = {}
        self._ready: dict[str, asyncio.Future[None]] = {}
        self._started = False
        #: Called after a client's publish is stored (never for a repeated client id): the app's
        #: server-side reactions to client messages, such as WebRTC signaling on ``user:{id}``.
        self.publish_hooks: list[PublishHook] = []
        self._hook_tasks: set[asyncio.Future[None]] = set()
        #: Server-side listeners by channel (``listen``): process-to-process requests through the broker.
        self._listeners: dict[str, list[Callable[[Message], None]]] = {}

    async def start(self) -> None:
        await self.broker.start(self._deliver, self._reset)
        self._started = True

    async def close(self) -> None:
        for connection in list(self.connections):
            connection.close(CLOSE_GOING_AWAY)
        # Let the connections send their close frames before the broker goes.
        for _ in range(50):
            if not self.connections:
                break
            await asyncio.sleep(0.02)
        await self.broker.close()
        self._started = False

    # -- server-side publishing ----------------------------------------------------------------------

    async def publish(self, channel: str, data: dict[str, Any], *, id: str | None = None) -> Message:
        """Publish server-side (domain services); ``data`` needs a ``type``; ``id`` makes it idempotent."""
        if not CHANNEL_RE.match(channel):
            raise ValueError(f"malformed channel name {channel!r}")
        if not isinstance(data.get("type"), str):
            raise ValueError("hub messages need data['type']")
        key = None if id is None else f"server:{id}"
        result = await self.broker.publish(channel, data, idempotency_key=key)
        return result.message

    async def listen(self, channel: str, callback: Callable[[Message], None]) -> None:
        """Hear every live message of ``channel`` in this process (no history, no client, no policy).

        For channels no client may subscribe to, such as ``relay:{process}`` where other processes send
        this one the WebRTC requests for the streams it holds.
        """
        if not CHANNEL_RE.match(channel):
            raise ValueError(f"malformed channel name {channel!r}")
        first = channel not in self._listeners
        self._listeners.setdefault(channel, []).append(callback)
        if first:
            await self.broker.subscribe(channel)

    # -- operations of connections ----------------------------------------------------------------------

    def register(self, connection: Connection) -> None:
        self.connections.add(connection)

    async def _permit(
        self,
        connection: Connection,
        channel: str,
        action: Action,
        op: str,
        ref: Any = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        verdict = await self.policy.check(connection.principal, channel, action, data)
        if verdict is Verdict.allowed:
            return
        if verdict is Verdict.unknown:
            raise FrameError(UNKNOWN_CHANNEL, f"no such channel {channel}", ref)
        if self.on_denied is not None:
            try:
                await self.on_denied(connection.principal, channel, op)
            except Exception:
                log.exception("hub: on_denied failed for %s on %s", connection.principal.name, channel)
        raise FrameError(FORBIDDEN, f"{op} on {channel} is not allowed for you", ref)

    async def client_publish(
        self, connection: Connection, channel: str, client_id: str | int, data: dict[str, Any]
    ) -> Message:
        await self._permit(connection, channel, "publish", "publish", client_id, data)
        kind = "s" if isinstance(client_id, str) else "i"
        key = f"{connection.principal.id}:{kind}:{client_id}"
        result = await self.broker.publish(channel, data, idempotency_key=key)
        if not result.duplicate:
            for hook in self.publish_hooks:
                self._spawn_hook(hook(connection.principal, channel, result.message))
        return result.message

    def _spawn_hook(self, coro: Awaitable[None]) -> None:
        """Run a publish hook beside the connection: the client's ack never waits for it."""

        async def guarded() -> None:
            try:
                await coro
            except Exception:
                log.exception("hub: a publish hook failed")

        task = asyncio.ensure_future(guarded())
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)

    async def subscribe(self, connection: Connection, channel: str, since: Position | None) -> None:
        await self._permit(connection, channel, "subscribe", "subscribe")
        if channel in connection.subscriptions:
            await self.unsubscribe(connection, channel)
        sub = connection.subscriptions.setdefault(channel, Subscription())
        subscribers = self._subscribers.get(channel)
        try:
            if subscribers is None:
                subscribers = self._subscribers[channel] = set()
                ready = self._ready[channel] = asyncio.get_running_loop().create_future()
                subscribers.add(connection)
                try:
                    await self.broker.subscribe(channel)
                except BaseException as exc:
                    if isinstance(exc, Exception):
                        ready.set_exception(exc)
                        ready.exception()  # retrieved: the waiters re-raise it themselves
                    else:
                        ready.cancel()
                    raise
                ready.set_result(None)
            else:
                subscribers.add(connection)
                await asyncio.shield(self._ready[channel])
            # Live messages are now buffered in ``sub``; read the history, then drain the buffer past it.
            recovery = await self.broker.recover(channel, since)
        except BaseException:
            await self.unsubscribe(connection, channel)
            raise
        if connection.subscriptions.get(channel) is not sub:
            return  # unsubscribed (or disconnected) meanwhile
        position = recovery.position
        connection.send(subscribed_frame(channel, position, recovery.recovered))
        for message in recovery.messages:
            await connection.send_paced(message.frame)
            if connection.subscriptions.get(channel) is not sub:
                return
        sub.last, sub.epoch = position.offset, position.epoch
        buffered, sub.buffer = sub.buffer or [], None
        for message in buffered:
            connection.deliver(message)
        await self.broker.presence_join(channel, connection.id, connection.user)

    async def unsubscribe(self, connection: Connection, channel: str) -> None:
        if connection.subscriptions.pop(channel, None) is None:
            return
        subscribers = self._subscribers.get(channel)
        if subscribers is not None:
            subscribers.discard(connection)
            if not subscribers and self._subscribers.get(channel) is subscribers:
                del self._subscribers[channel]
                self._ready.pop(channel, None)
                try:
                    await self.broker.unsubscribe(channel)
                except Exception:
                    log.exception("hub: broker unsubscribe of %s failed", channel)
        try:
            await self.broker.presence_leave(channel, connection.id)
        except Exception:
            log.exception("hub: presence leave on %s failed", channel)

    async def presence(self, connection: Connection, channel: str) -> list[dict[str, Any]]:
        await self._permit(connection, channel, "subscribe", "presence")
        return await self.broker.presence(channel)

    async def disconnect(self, connection: Connection) -> None:
        self.connections.discard(connection)
        for channel in list(connection.subscriptions):
            await self.unsubscribe(connection, channel)

    # -- from the broker ------------------------------------------------------------------------------

    def _deliver(self, message: Message) -> None:
        for listener in self._listeners.get(message.channel, ()):
            try:
                listener(message)
            except Exception:
                log.exception("hub: listener on %s failed", message.channel)
        subscribers = self._subscribers.get(message.channel)
        if not subscribers:
            return
        for connection in tuple(subscribers):
            try:
                connection.deliver(message)
            except Exception:  # one bad subscriber never stalls the others
                log.exception("hub: delivery to %s failed", connection.id)

    def _reset(self, channel: str, position: Position) -> None:
        for connection in tuple(self._subscribers.get(channel, ())):
            connection.reset(channel, position)

    def subscriber_count(self, channel: str) -> int:
        return len(self._subscribers.get(channel, ()))
