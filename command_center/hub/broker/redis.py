"""The Redis broker (``redis://``): several server processes share channels, history and presence.

Layout per channel ``C`` (hash-tagged so one channel's keys share a slot; the hub needs one Redis, not a
Redis Cluster, since one publish script call touches the keys of every channel in its batch):

- ``cc:hub:{C}:seq`` the last offset; ``cc:hub:{C}:epoch`` the epoch, created once with a set-if-absent so
  every process agrees on it;
- ``cc:hub:{C}:log`` a Stream whose entry ids are ``<offset>-0`` (so a recovery is one ``XRANGE``), with
  fields ``f`` (the finished ``message`` frame) and ``m`` (publish time, ms). It is capped with
  ``MAXLEN ~ history_size`` and expires ``history_seconds`` after the last publish; entries older than
  ``history_seconds`` are ignored on read, so the window is "the last N messages or T seconds";
- ``cc:hub:{C}:idem:<publisher>:<client id>`` the offset a client id got, for ``history_seconds``;
- ``cc:hub:{C}:presence`` a hash of connection -> user with an expiry each process refreshes
  (``redis_presence.py``).

Publishing is one Lua script (``_PUBLISH``): for each message, read-or-create the epoch, check the
idempotency key, ``INCR`` the offset, build the frame, ``XADD`` it and ``PUBLISH`` it on ``cc:hub:live:C``.
Being one script, the offset order, the stream order and the pub/sub order are the same, and no two
processes can interleave. The publishes of one event-loop step go to Redis as one call of that script, one
call in flight at a time (``batch.StepBatcher``), so a burst costs one round trip and one command instead of
one of each per message, in the same order.

Live fan-out: each process holds ONE pub/sub connection subscribed to the live channels its clients
listen to (not one Redis connection per WebSocket). Pub/sub is lossy across a disconnection, so the process
remembers the last offset it delivered per channel: a message whose offset skips ahead is preceded by the
missing ones read from the stream, and after every (re)connection of the pub/sub connection each channel is
caught up from its stream before live delivery resumes. Subscribers therefore get every message once, in
order, across a Redis restart — as long as Redis kept the data.

Durability decision: the guarantee "across a restart of Redis" holds only if Redis persists what it
acknowledged, so production Redis must run with ``appendonly yes`` and ``appendfsync always`` (``everysec``
may lose the last second). The hub does not pretend otherwise: if Redis comes back empty, the epoch key is
gone, a new epoch is created, and every subscriber is sent ``subscribed`` with ``recovered: false`` (and
reconnecting clients get the same), so a loss is always said, never a silent gap. The Redis-restart test
runs its own ``redis-server --appendonly yes --appendfsync always``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import BlockingConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from command_center.hub.broker.base import (
    BrokerUnavailable,
    Deliver,
    PublishItem,
    PublishResult,
    Recovery,
    Reset,
    recovery_from_history,
)
from command_center.hub.broker.batch import CommandBatcher, InFlight, StepBatcher, evalsha
from command_center.hub.broker.redis_presence import RedisPresence
from command_center.hub.broker.retry import RETRY_CAP, bounded, retrying
from command_center.hub.protocol import Message, Position, dumps, utc_now_iso

log = logging.getLogger(__name__)

_PREFIX = "cc:hub:"
_LIVE = "cc:hub:live:"

# Publishes a batch of messages, in order, as if each were its own script (a batch is what one event-loop
# step submitted): one command for the batch rather than one per message, which was most of what a publish
# cost the hub in redis-py (packing, a reply parsed per command) and a good part of Redis's time.
# KEYS: per message seq, log, epoch, idem.  ARGV: epoch candidate, ts, maxlen, ttl ms, idem ttl s, live
# channel prefix, now ms; then per message channel, data json, use idem ("1"/"0").
# Returns per message {offset, epoch, duplicate (1/0), frame ('' for a duplicate gone from the history)}.
_PUBLISH = """
local replies = {}
for i = 0, #KEYS / 4 - 1 do
  local seq, log, epoch_key, idem = KEYS[4 * i + 1], KEYS[4 * i + 2], KEYS[4 * i + 3], KEYS[4 * i + 4]
  local channel, data, use_idem = ARGV[8 + 3 * i], ARGV[9 + 3 * i], ARGV[10 + 3 * i]
  local epoch = redis.call('GET', epoch_key)
  if not epoch then
    epoch = ARGV[1]
    redis.call('SET', epoch_key, epoch)
  end
  local reply = nil
  if use_idem == '1' then
    local prev = redis.call('GET', idem)
    if prev then
      local found = redis.call('XRANGE', log, prev .. '-0', prev .. '-0')
      local frame = ''
      if found[1] then frame = found[1][2][2] end
      reply = {tonumber(prev), epoch, 1, frame}
    end
  end
  if not reply then
    local offset = redis.call('INCR', seq)
    local frame = '{"op":"message","channel":"' .. channel .. '","offset":' .. offset .. ',"epoch":"' ..
      epoch .. '","ts":"' .. ARGV[2] .. '","data":' .. data .. '}'
    redis.call('XADD', log, 'MAXLEN', '~', ARGV[3], offset .. '-0', 'f', frame, 'm', ARGV[7])
    redis.call('PEXPIRE', log, ARGV[4])
    if use_idem == '1' then
      redis.call('SET', idem, offset, 'EX', ARGV[5])
    end
    redis.call('PUBLISH', ARGV[6] .. channel, offset .. ' ' .. epoch .. ' ' .. frame)
    reply = {offset, epoch, 0, frame}
  end
  replies[i + 1] = reply
end
return replies
"""

# KEYS: seq, epoch.  ARGV: epoch candidate.
_POSITION = """
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
end
local offset = tonumber(redis.call('GET', KEYS[1]) or '0')
return {offset, epoch}
"""


#: Redis connections per process for commands (the live fan-out has its own pub/sub connection).
_POOL_SIZE = 64


def _key(channel: str, part: str) -> str:
    return f"{_PREFIX}{{{channel}}}:{part}"


class RedisBroker:
    """Streams for history and offsets, one pub/sub connection per process for live fan-out."""

    def __init__(
        self,
        url: str,
        *,
        history_size: int = 1000,
        history_seconds: float = 86400,
        retry_seconds: float = 5.0,
        presence_ttl_seconds: float = 60.0,
    ) -> None:
        self._url = url
        self._history_size = history_size
        self._history_seconds = history_seconds
        self._retry_seconds = retry_seconds
        # A bounded pool that makes a command wait for a free connection: redis-py's default pool raises
        # "Too many connections" past 100, which a reconnect storm of a thousand subscribes reaches.
        # Every command is also bounded by ``retry_seconds`` (``retry.py``, the command batches).
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=_POOL_SIZE,
            timeout=retry_seconds,
            decode_responses=True,
            socket_connect_timeout=2,
        )
        self._redis: Redis = Redis.from_pool(pool)  # closes the pool with the client
        self._publish_script = self._redis.register_script(_PUBLISH)
        self._position_script = self._redis.register_script(_POSITION)
        #: Publishes of one event-loop step leave in one script call, one call at a time (``batch.py``).
        self._publishes: StepBatcher[PublishItem, PublishResult] = StepBatcher(self._publish_batch)
        #: So do the other commands of a subscribe (position, history, presence): a reconnect storm's
        #: thousands of subscribes cost a few round trips instead of several each.
        self._command = CommandBatcher(self._redis, timeout=retry_seconds)
        #: History reads under way, by (channel, after, upto, epoch): identical recoveries share one.
        self._history_reads: InFlight[tuple[str, int, int, str], list[Message] | None] = InFlight()
        self._process = uuid.uuid4().hex[:12]
        self._presence = RedisPresence(
            self._redis,
            process=self._process,
            key=lambda channel: _key(channel, "presence"),
            ttl_seconds=presence_ttl_seconds,
            retry_seconds=retry_seconds,
        )
        self._control = f"{_PREFIX}ctl:{self._process}"
        self._deliver: Deliver | None = None
        self._reset: Reset | None = None
        # Channels this process listens to, and the last position delivered for each (None: not caught up).
        self._wanted: set[str] = set()
        self._last: dict[str, Position | None] = {}
        self._pubsub: PubSub | None = None
        self._connected = asyncio.Event()
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        # One (un)subscription of a channel at a time, so a SUBSCRIBE never overtakes an UNSUBSCRIBE.
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._closed = False

    @property
    def url(self) -> str:
        """Where Redis is, for the hub's other shared state (``hub.seats``)."""
        return self._url

    # -- lifecycle -------------------------------------------------------------------------------------

    async def start(self, deliver: Deliver, reset: Reset) -> None:
        self._deliver = deliver
        self._reset = reset
        self._reader = asyncio.create_task(self._read_forever(), name="hub-redis-reader")
        self._heartbeat = asyncio.create_task(self._presence.refresh_forever(), name="hub-redis-presence")

    async def close(self) -> None:
        self._closed = True
        for task in (self._reader, self._heartbeat):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._presence.clear()
        await self._drop_pubsub()
        await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), 2.0))
        except Exception:  # never raise from a health check
            return False

    # -- publishing and history ------------------------------------------------------------------------

    def _publish_call(self, items: Sequence[PublishItem]) -> tuple[list[str], list[Any]]:
        """The keys and arguments of ``_PUBLISH`` for ``items``."""
        keys: list[str] = []
        args: list[Any] = [
            secrets.token_hex(4),
            utc_now_iso(),
            self._history_size,
            int(self._history_seconds * 1000),
            int(self._history_seconds),
            _LIVE,
            int(time.time() * 1000),
        ]
        for channel, data, idempotency_key in items:
            keys += (
                _key(channel, "seq"),
                _key(channel, "log"),
                _key(channel, "epoch"),
                _key(channel, f"idem:{idempotency_key or ''}"),
            )
            args += (channel, dumps(data), "1" if idempotency_key is not None else "0")
        return keys, args

    @staticmethod
    def _publish_result(channel: str, data: dict[str, Any], reply: list[Any]) -> PublishResult:
        offset, epoch, duplicate, frame = reply
        if not frame:  # a duplicate whose original already left the history
            return PublishResult(Message.build(channel, int(offset), epoch, data), True)
        return PublishResult(Message(channel, int(offset), epoch, frame), bool(duplicate))

    async def publish(
        self, channel: str, data: dict[str, Any], *, idempotency_key: str | None = None
    ) -> PublishResult:
        return await self._publishes.submit((channel, data, idempotency_key))

    def start_publish(
        self, channel: str, data: dict[str, Any], *, idempotency_key: str | None = None
    ) -> asyncio.Future[PublishResult]:
        return self._publishes.submit((channel, data, idempotency_key))

    async def publish_many(self, items: Sequence[PublishItem]) -> list[PublishResult]:
        """Publish in order in one round trip (the items join the same batch).

        After an error some of the items may have been published: the caller repeats them all under the
        same idempotency keys, which Redis answers as duplicates.
        """
        futures = [self._publishes.submit(item) for item in items]
        return list(await asyncio.gather(*futures))

    async def _publish_batch(self, items: Sequence[PublishItem]) -> list[PublishResult]:
        """Run the publish script once for ``items`` (``StepBatcher``'s sender)."""
        keys, args = self._publish_call(items)
        replies = await retrying(
            "publish",
            lambda: bounded(evalsha(self._redis, self._publish_script, keys, args), self._retry_seconds),
            self._retry_seconds,
        )
        return [self._publish_result(c, d, r) for (c, d, _), r in zip(items, replies, strict=True)]

    async def _position_once(self, channel: str) -> list[Any]:
        keys = (_key(channel, "seq"), _key(channel, "epoch"))
        # Every process's answer is the same whoever asks: a storm's recoveries of one channel share one.
        reply: list[Any] = await self._command.run_script(
            self._position_script, keys, [secrets.token_hex(4)], same_as=("position", channel)
        )
        return reply

    async def position(self, channel: str) -> Position:
        offset, epoch = await retrying("position", lambda: self._position_once(channel), self._retry_seconds)
        return Position(int(offset), epoch)

    async def _history(self, channel: str, after: int, upto: int, epoch: str) -> list[Message] | None:
        """The stored messages with offsets in (after, upto], or None if Redis no longer has all of them.

        Callers asking for the same range while it is being read share the read and its decoding (the
        list is shared: read-only): a reconnect storm's thousands of recoveries of one channel get the
        same ``Message`` objects, whose frames are then built once, not once per connection. A range
        read moments before a caller asked is as good as one read after: entries up to ``upto`` never
        change, and the epoch is part of what is asked.
        """
        if upto <= after:
            return []
        return await self._history_reads.join(
            (channel, after, upto, epoch), lambda: self._read_history(channel, after, upto, epoch)
        )

    async def _read_history(self, channel: str, after: int, upto: int, epoch: str) -> list[Message] | None:
        command = ("XRANGE", _key(channel, "log"), f"{after + 1}-0", f"{upto}-0")
        entries = await retrying("history", lambda: self._command(*command), self._retry_seconds)
        horizon = int((time.time() - self._history_seconds) * 1000)
        messages = []
        for entry_id, fields in entries:
            if int(fields.get("m", 0)) < horizon:
                return None
            offset = int(entry_id.partition("-")[0])
            messages.append(Message(channel, offset, epoch, fields["f"]))
        if len(messages) != upto - after or (messages and messages[0].offset != after + 1):
            return None
        # A frame records its epoch; a stream re-filled after data loss must not pass for the old epoch.
        if messages and f'"epoch":"{epoch}"' not in messages[0].frame:
            return None
        return messages

    async def recover(self, channel: str, since: Position | None) -> Recovery:
        position = await self.position(channel)
        if since is None or since.epoch != position.epoch or since.offset >= position.offset:
            return recovery_from_history(position, since, [])
        history = await self._history(channel, since.offset, position.offset, position.epoch)
        return recovery_from_history(position, since, history)

    # -- live fan-out ----------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _channel_lock(self, channel: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(channel, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[channel] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[channel]
            if users <= 1:
                del self._locks[channel]
            else:
                self._locks[channel] = (lock, users - 1)

    async def subscribe(self, channel: str) -> None:
        async with self._channel_lock(channel):
            await self._subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        async with self._channel_lock(channel):
            await self._unsubscribe(channel)

    async def _subscribe(self, channel: str) -> None:
        if channel in self._wanted:
            return
        self._wanted.add(channel)
        self._last[channel] = None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._confirmed[channel] = future
        deadline = self._retry_seconds
        try:
            await asyncio.wait_for(self._connected.wait(), deadline)
            pubsub = self._pubsub
            if pubsub is not None:
                await pubsub.subscribe(_LIVE + channel)
            # Confirmed means Redis now routes every later PUBLISH of this channel to us.
            await asyncio.wait_for(asyncio.shield(future), deadline)
        except (TimeoutError, RedisError, OSError) as exc:
            self._wanted.discard(channel)
            self._last.pop(channel, None)
            self._confirmed.pop(channel, None)
            raise BrokerUnavailable(f"cannot subscribe {channel} on Redis: {exc}") from exc
        position = await self.position(channel)
        if self._last.get(channel, position) is None:
            self._last[channel] = position

    async def _unsubscribe(self, channel: str) -> None:
        if channel not in self._wanted:
            return
        self._wanted.discard(channel)
        self._last.pop(channel, None)
        self._confirmed.pop(channel, None)
        pubsub = self._pubsub
        if pubsub is not None and self._connected.is_set():
            with contextlib.suppress(RedisError, OSError):
                await pubsub.unsubscribe(_LIVE + channel)

    async def _drop_pubsub(self) -> None:
        self._connected.clear()
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):  # a broken subscription is dropped whatever went wrong
                # redis-py leaves PubSub.aclose unannotated (it returns None).
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _read_forever(self) -> None:
        delay = 0.05
        client = Redis.from_url(
            self._url, decode_responses=True, retry=Retry(NoBackoff(), 0), socket_connect_timeout=2
        )
        try:
            while not self._closed:
                try:
                    await self._read_once(client)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("hub: Redis pub/sub connection lost (%s); reconnecting", exc)
                await self._drop_pubsub()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_CAP)
        finally:
            await self._drop_pubsub()
            await client.aclose()

    async def _read_once(self, client: Redis) -> None:
        pubsub = client.pubsub()
        self._pubsub = pubsub
        channels = list(self._wanted)
        await pubsub.subscribe(self._control, *(_LIVE + c for c in channels))
        pending = {self._control, *(_LIVE + c for c in channels)}
        # Wait until Redis confirmed every subscription, then catch up from the streams: anything
        # published before the confirmation is in a stream, anything after will arrive here.
        buffered: list[dict[str, Any]] = []
        while pending:
            item = await pubsub.get_message(timeout=None)
            if item is None:
                continue
            if item["type"] == "subscribe":
                pending.discard(item["channel"])
            elif item["type"] == "message":
                buffered.append(item)
        for channel in channels:
            if channel in self._wanted:
                await self._catch_up(channel)
        self._connected.set()
        for channel in channels:
            future = self._confirmed.get(channel)
            if future is not None and not future.done():
                future.set_result(None)
        for item in buffered:
            await self._on_live(item["channel"], item["data"])
        while True:
            item = await pubsub.get_message(timeout=None)
            if item is None:
                continue
            kind = item["type"]
            if kind == "message":
                await self._on_live(item["channel"], item["data"])
            elif kind == "subscribe":
                channel = item["channel"][len(_LIVE) :]
                future = self._confirmed.get(channel)
                if future is not None and not future.done():
                    future.set_result(None)

    async def _catch_up(self, channel: str) -> None:
        """Deliver what the channel got since the last delivered offset, or reset it if that is lost."""
        last = self._last.get(channel)
        position = await self.position(channel)
        if last is None:
            self._last[channel] = position
            return
        if position.epoch == last.epoch and position.offset == last.offset:
            return
        history = None
        if position.epoch == last.epoch and position.offset > last.offset:
            history = await self._history(channel, last.offset, position.offset, position.epoch)
        if history is None:
            log.warning("hub: channel %s lost history in Redis (epoch %s -> %s)", channel, last, position)
            self._last[channel] = position
            if self._reset is not None:
                self._reset(channel, position)
            return
        self._deliver_all(channel, history)

    def _deliver_all(self, channel: str, messages: list[Message]) -> None:
        for message in messages:
            self._last[channel] = message.position
            if self._deliver is not None:
                self._deliver(message)

    async def _on_live(self, live_channel: str, payload: str) -> None:
        channel = live_channel[len(_LIVE) :]
        if channel not in self._wanted:
            return
        last = self._last.get(channel)
        if last is None:
            # Subscription not caught up yet: whoever subscribes reads this from the history.
            return
        offset_text, epoch, frame = payload.split(" ", 2)
        offset = int(offset_text)
        if epoch != last.epoch:
            await self._catch_up(channel)
            return
        if offset <= last.offset:
            return
        if offset > last.offset + 1:
            await self._catch_up(channel)  # missed some (a reconnect raced a publish): fill from the stream
            return
        self._deliver_all(channel, [Message(channel, offset, epoch, frame)])

    # -- presence (``redis_presence.py``) ---------------------------------------------------------------

    async def presence_join(self, channel: str, member: str, user: dict[str, Any]) -> None:
        await self._presence.join(channel, member, user)

    async def presence_leave(self, channel: str, member: str) -> None:
        await self._presence.leave(channel, member)

    async def presence(self, channel: str) -> list[dict[str, Any]]:
        return await self._presence.users(channel)
