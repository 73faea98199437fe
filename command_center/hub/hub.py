"""The hub: channels, subscriptions and fan-out for one server process, over a shared broker.

The lead's app builds it in the lifespan::

    hub = Hub(settings=settings, broker=create_broker(settings.broker_url, ...),
              authenticate=authenticate, on_denied=audit_denial)
    await hub.start()
    ...
    await hub.close()

Domain events reach it through the transactional outbox (``events.emit`` -> ``outbox.OutboxRelay`` ->
``hub.publish``); the hub's own server frames (signaling answers) use ``hub.publish`` directly. Channel
rules are added with ``hub.policy.register(prefix, checker)``.

Trust follows the user (DESIGN.md section 4): a revocation, published on the ``control`` channel through
the outbox, closes that user's connections with 4401 on every process; a message that changes who may read
its channel (``channels.ACCESS_CHANGE_TYPES``) makes the hub re-check that channel's subscribers, holding
their deliveries meanwhile, and end the subscriptions that lost the right.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine
from datetime import UTC, datetime
from typing import Any

from command_center.auth.roles import Principal
from command_center.hub.broker.base import Broker, PublishResult
from command_center.hub.channels import (
    ACCESS_CHANGE_TYPES,
    CLIENT_REQUEST_TYPES,
    CONTROL,
    RECHECKED_PREFIXES,
    REVOKED,
)
from command_center.hub.connection import Connection, Subscription
from command_center.hub.denials import WINDOW_SECONDS, Denied
from command_center.hub.policy import Action, ChannelPolicy, Verdict
from command_center.hub.protocol import (
    CHANNEL_RE,
    CLOSE_AUTH,
    CLOSE_GOING_AWAY,
    FORBIDDEN,
    UNKNOWN_CHANNEL,
    FrameError,
    Message,
    Position,
    dumps,
    subscribed_frame,
)
from command_center.hub.seats import Seats, seats_for
from command_center.hub.wire import StepWriter
from command_center.settings import Settings

log = logging.getLogger(__name__)

#: Allocations between collections of the youngest generation (CPython's default is 700).
GC_YOUNG_THRESHOLD = 14_000

Authenticate = Callable[[str], Awaitable[Principal]]
#: ``(principal, channel, op, count)``: one audit row standing for ``count`` denials on one connection.
OnDenied = Callable[[Principal, str, str, int], Awaitable[None]]
PublishHook = Callable[[Principal, str, Message], Awaitable[None]]
GoneHook = Callable[[Principal], Awaitable[None]]


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
        client_types: Collection[str] | None = CLIENT_REQUEST_TYPES,
        clock: Callable[[], float] = time.monotonic,
        seats: Seats | None = None,
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.authenticate = authenticate
        self.on_denied = on_denied
        self.policy = policy if policy is not None else ChannelPolicy()
        #: The ``type`` values clients may publish (None: any, for test servers of the protocol alone).
        self.client_types = client_types
        self.clock = clock
        self.connections: set[Connection] = set()
        self._by_user: dict[int, set[Connection]] = {}
        #: Connections per user across processes (``seats.py``); this process's own are ``_by_user``.
        self.seats = seats if seats is not None else seats_for(broker, settings.ws_connection_lease_seconds)
        self._control: asyncio.Task[None] | None = None
        self._subscribers: dict[str, set[Connection]] = {}
        self._ready: dict[str, asyncio.Future[None]] = {}
        self._started = False
        #: ``(channel prefix, hook)``: called after a client's publish on a channel with that prefix is
        #: stored (never for a repeated client id): the app's server-side reactions to client messages,
        #: such as WebRTC signaling on ``user:{id}`` (``add_publish_hook``).
        self.publish_hooks: list[tuple[str, PublishHook]] = []
        #: Called when a user's last connection to this process closes: what a person holds only while
        #: connected (a push-to-talk floor) is given back, after the user's requests still being handled.
        self.gone_hooks: list[GoneHook] = []
        #: Called with the user id of every revocation this process hears of (its own and the others'):
        #: what the app remembers of the user's tokens is forgotten (``auth/tokens.py``).
        self.revoked_hooks: list[Callable[[int], None]] = []
        self._hook_tasks: set[asyncio.Future[None]] = set()
        #: The last client request's hooks per channel, so the next request's hooks run after them.
        self._hook_tails: dict[str, asyncio.Future[None]] = {}
        #: Server-side listeners by channel (``listen``): process-to-process requests through the broker.
        self._listeners: dict[str, list[Callable[[Message], None]]] = {}
        #: When frames for subscribers go out: at once to a quiet connection, once per event-loop step to a
        #: busy one (``wire.StepWriter``); made again by ``start`` for the loop it runs on.
        self.writes = StepWriter()

    async def start(self) -> None:
        self.writes = StepWriter()  # a stopped loop may have left its end-of-step callback unrun
        # What is alive now (modules, the app, settings) lives as long as the process: move it out of the
        # collector's sight, or every full collection walks it again while broadcasts wait. Measured:
        # full collections of 95-230 ms were the hub's p99 in the fan-out benchmark (RESULTS.md).
        # Collections of the young generations then run 20x less often (cycles wait a little longer to be
        # freed), and the full ones, which a wave of connections triggers, rarely land amid a broadcast.
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        await self.broker.start(self._deliver, self._reset)
        await self.seats.start()
        self._started = True
        self._control = asyncio.create_task(self._listen_control(), name="hub-control")

    async def _listen_control(self) -> None:
        """Listen to ``control`` for the process's life; keep trying while the broker is down at start."""
        delay = 0.05
        while True:
            try:
                await self.broker.subscribe(CONTROL)
                return
            except Exception as exc:
                log.warning("hub: cannot listen to %s yet (%s); retrying", CONTROL, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def close(self) -> None:
        if self._control is not None:
            self._control.cancel()
        for connection in list(self.connections):
            connection.close(CLOSE_GOING_AWAY)
        # Let the connections send their close frames before the broker goes.
        for _ in range(50):
            if not self.connections:
                break
            await asyncio.sleep(0.02)
        await self.seats.close()
        await self.broker.close()
        self._started = False

    # -- server-side publishing ----------------------------------------------------------------------

    async def publish(self, channel: str, data: dict[str, Any], *, id: str | None = None) -> Message:
        """Publish server-side (domain services); ``data`` needs a ``type``; ``id`` makes it idempotent."""
        return (await self.publish_many([(channel, data, id)]))[0]

    async def publish_many(self, items: list[tuple[str, dict[str, Any], str | None]]) -> list[Message]:
        """Publish ``(channel, data, id)`` items in order, in one broker round trip where it can."""
        for channel, data, _ in items:
            if not CHANNEL_RE.match(channel):
                raise ValueError(f"malformed channel name {channel!r}")
            if not isinstance(data.get("type"), str):
                raise ValueError("hub messages need data['type']")
        for channel, data, _ in items:
            if channel == CONTROL:
                self._on_control(data)  # this process at once; the others through the broker
        keyed = [(c, d, None if i is None else f"server:{i}") for c, d, i in items]
        if len(keyed) == 1:
            channel, data, key = keyed[0]
            return [(await self.broker.publish(channel, data, idempotency_key=key)).message]
        return [result.message for result in await self.broker.publish_many(keyed)]

    def add_publish_hook(self, hook: PublishHook, *, channels: str) -> None:
        """Call ``hook`` after each client publish stored on a channel starting with ``channels``.

        Why the prefix: the hooks serve a few channels (a user's own ``user:{id}``), and a task started for
        every publish on every other channel cost each task force and incident message a task and a parse
        of its frame for nothing.
        """
        self.publish_hooks.append((channels, hook))

    # -- trust that follows the user ----------------------------------------------------------------------

    def revoke_user(self, user_id: int, token_id: str | None = None) -> int:
        """Close this process's connections of ``user_id`` (of one token, if given) with 4401.

        Other processes learn of a revocation from the ``control`` channel: call
        ``events.revoke_connections(session, ...)`` in the revoking transaction rather than this.
        """
        closed = 0
        for connection in tuple(self._by_user.get(user_id, ())):
            if token_id is None or connection.principal.token_id == token_id:
                connection.close(CLOSE_AUTH)
                closed += 1
        if closed:
            log.info("hub: closed %d connection(s) of user %s (revoked)", closed, user_id)
        return closed

    def _on_control(self, data: dict[str, Any]) -> None:
        if data.get("type") == REVOKED:
            user_id, token = data.get("id"), data.get("token")
            if isinstance(user_id, int):
                for hook in self.revoked_hooks:
                    hook(user_id)
                self.revoke_user(user_id, token if isinstance(token, str) else None)

    def _hold_for_recheck(self, channel: str, subscribers: set[Connection]) -> None:
        """Hold the subscribers' deliveries on ``channel`` until their right to it is checked again."""
        held: list[tuple[Connection, Subscription]] = []
        for connection in subscribers:
            sub = connection.subscriptions.get(channel)
            if sub is None:
                continue
            if sub.buffer is None:
                sub.buffer, sub.held = [], True
            held.append((connection, sub))
        self._spawn_hook(self._recheck(channel, held))

    async def _recheck(self, channel: str, held: list[tuple[Connection, Subscription]]) -> None:
        # The rules of re-checked channels (task forces, incidents) depend on the role and department
        # alone, so a thousand subscribers cost one check per kind of user, not a thousand queries.
        verdicts: dict[tuple[str, str], Verdict] = {}
        for connection, sub in held:
            if connection.subscriptions.get(channel) is not sub:
                continue
            principal = connection.principal
            kind = (str(principal.role), principal.department)
            verdict = verdicts.get(kind)
            if verdict is None:
                try:
                    verdict = await self.policy.check(principal, channel, "subscribe")
                except Exception:  # fail closed: the client may subscribe again and be checked afresh
                    log.exception("hub: re-checking %s for %s failed", channel, principal.name)
                    verdict = Verdict.forbidden
                verdicts[kind] = verdict
            if connection.subscriptions.get(channel) is not sub:
                continue
            if verdict is Verdict.allowed:
                if sub.held:
                    buffered, sub.buffer, sub.held = sub.buffer or [], None, False
                    for message in buffered:
                        connection.deliver(message)
                continue
            await self.unsubscribe(connection, channel)
            connection.send(dumps({"op": "unsubscribed", "channel": channel, "reason": "forbidden"}))

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

    async def admit(self, connection: Connection) -> bool:
        """Admit a connection, unless its user already holds the most connections allowed (then False).

        This process's own count first (no round trip to refuse the obvious), then the seats of every
        process (``seats.py``).
        """
        user_id, limit = connection.principal.id, self.settings.ws_max_connections_per_user
        if len(self._by_user.get(user_id, ())) >= limit:
            return False
        if not await self.seats.take(user_id, connection.id, limit):
            return False
        mine = self._by_user.setdefault(user_id, set())
        if len(mine) >= limit:  # this process admitted others while the seat was asked for
            await self.seats.give_back(user_id, connection.id)
            return False
        mine.add(connection)
        self.connections.add(connection)
        self._close_when_the_token_ends(connection)
        return True

    def _close_when_the_token_ends(self, connection: Connection) -> None:
        """Close with 4401 when the connection's token expires, as REST starts answering 401 then.

        What the hub decided at connect time holds only as long as the token it was decided on: a socket
        opened an hour before the end of a 12-hour token must not keep receiving for the next shift.
        """
        expires_at = connection.principal.expires_at
        if expires_at is None:
            return
        delay = (expires_at - datetime.now(UTC)).total_seconds()
        connection.expiry = asyncio.get_running_loop().call_later(
            max(delay, 0.0), self._token_ended, connection
        )

    def _token_ended(self, connection: Connection) -> None:
        connection.expiry = None
        log.info("hub: closed %s of user %s (token expired)", connection.id, connection.principal.id)
        connection.close(CLOSE_AUTH)

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
        await self._deny(connection, channel, op, ref)

    async def _deny(self, connection: Connection, channel: str, op: str, ref: Any) -> None:
        window = connection.denials
        await self._audit_denials(connection, window.deny(channel, op))
        if window.counting and window.timer is None:
            # The window's count is written when it ends, even if the client stops asking.
            window.timer = asyncio.get_running_loop().call_later(
                WINDOW_SECONDS, lambda: self._spawn_hook(self._end_window(connection))
            )
        raise FrameError(FORBIDDEN, f"{op} on {channel} is not allowed for you", ref)

    async def _end_window(self, connection: Connection) -> None:
        connection.denials.timer = None
        if connection.denials.due():
            await self._audit_denials(connection, connection.denials.flush())

    async def _audit_denials(self, connection: Connection, rows: list[Denied]) -> None:
        if self.on_denied is None:
            return
        for row in rows:
            try:
                await self.on_denied(connection.principal, row.channel, row.op, row.count)
            except Exception:
                log.exception("hub: on_denied failed for %s on %s", connection.principal.name, row.channel)

    async def client_publish(
        self, connection: Connection, channel: str, client_id: str | int, data: dict[str, Any]
    ) -> asyncio.Future[Message]:
        """Check a client's publish and start storing it; the future is the stored message.

        Publishes started one after another are stored in that order (``Broker.start_publish``), so the
        connection need not wait for one before the next; their hooks start in that order too.
        """
        await self._permit(connection, channel, "publish", "publish", client_id, data)
        if self.client_types is not None and data.get("type") not in self.client_types:
            await self._deny(connection, channel, "publish", client_id)
        # Who sent it is the server's to say: a client cannot pass for the server or for someone else.
        data = {**data, "from": connection.user}
        kind = "s" if isinstance(client_id, str) else "i"
        key = f"{connection.principal.id}:{kind}:{client_id}"
        stored = self.broker.start_publish(channel, data, idempotency_key=key)
        message: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        principal = connection.principal

        def on_stored(done: asyncio.Future[PublishResult]) -> None:
            if done.cancelled():
                message.cancel()
                return
            exc = done.exception()
            if exc is not None:
                message.set_exception(exc)
                return
            result = done.result()
            if not result.duplicate:
                hooks = [
                    hook(principal, channel, result.message)
                    for prefix, hook in self.publish_hooks
                    if channel.startswith(prefix)
                ]
                if hooks:
                    self._spawn_hook(*hooks, after=self._hook_tails.get(channel), tail_of=channel)
            message.set_result(result.message)

        stored.add_done_callback(on_stored)
        return message

    def _spawn_hook(
        self,
        *coros: Awaitable[None],
        after: asyncio.Future[None] | None = None,
        tail_of: str | None = None,
    ) -> None:
        """Run hooks beside the connection: the client's ack never waits for them.

        Client requests on one channel are answered in the order they were sent (``after`` the previous
        request's hooks): a push-to-talk release must not overtake the request sent just before it.
        """

        async def guarded() -> None:
            pending = list(coros)
            try:
                if after is not None:
                    await asyncio.wait([after])
                while pending:
                    try:
                        await pending.pop(0)
                    except Exception:
                        log.exception("hub: a publish hook failed")
            finally:  # cancelled at shutdown: hooks never started are closed, not left unawaited
                for coro in pending:
                    if isinstance(coro, Coroutine):
                        coro.close()

        task = asyncio.ensure_future(guarded())
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)
        if tail_of is not None:
            self._hook_tails[tail_of] = task
            task.add_done_callback(lambda done: self._forget_tail(tail_of, done))

    def _user_gone(self, principal: Principal) -> None:
        if not self.gone_hooks:
            return
        own = f"user:{principal.id}"  # after the hooks of the user's last requests (a release just sent)
        hooks = [hook(principal) for hook in self.gone_hooks]
        self._spawn_hook(*hooks, after=self._hook_tails.get(own), tail_of=own)

    def _forget_tail(self, channel: str, done: asyncio.Future[None]) -> None:
        if self._hook_tails.get(channel) is done:
            del self._hook_tails[channel]

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
            await connection.replay(message)
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
        if connection.expiry is not None:  # or the timer would hold the connection until the token's end
            connection.expiry.cancel()
            connection.expiry = None
        if connection in self.connections:
            self.connections.discard(connection)
            mine = self._by_user.get(connection.principal.id)
            if mine is not None:
                mine.discard(connection)
                if not mine:
                    del self._by_user[connection.principal.id]
                    self._user_gone(connection.principal)
            await self.seats.give_back(connection.principal.id, connection.id)
        for channel in list(connection.subscriptions):
            await self.unsubscribe(connection, channel)
        if connection.denials.timer is not None:
            connection.denials.timer.cancel()
            connection.denials.timer = None
        await self._audit_denials(connection, connection.denials.flush())

    # -- from the broker ------------------------------------------------------------------------------

    def _deliver(self, message: Message) -> None:
        channel = message.channel
        if channel == CONTROL:
            self._on_control(message.data)
            return
        for listener in self._listeners.get(channel, ()):
            try:
                listener(message)
            except Exception:
                log.exception("hub: listener on %s failed", channel)
        subscribers = self._subscribers.get(channel)
        if not subscribers:
            return
        # Parsing the frame only on the few channels whose audience can shrink keeps fan-out cheap.
        if channel.startswith(RECHECKED_PREFIXES) and message.data.get("type") in ACCESS_CHANGE_TYPES:
            self._hold_for_recheck(channel, subscribers)
        for connection in tuple(subscribers):
            try:
                connection.deliver(message)
            except Exception:  # one bad subscriber never stalls the others
                log.exception("hub: delivery to %s failed", connection.id)
        self.writes.flush_if_late()

    def _reset(self, channel: str, position: Position) -> None:
        for connection in tuple(self._subscribers.get(channel, ())):
            connection.reset(channel, position)
