"""The in-memory broker: one process, no dependencies; the default (``memory://``).

Each channel keeps a deque of its last ``history_size`` messages (and drops those older than
``history_seconds`` on read and write), a counter and an epoch. All channels together hold at most
``history_bytes`` of frames: past that, the oldest messages of the whole broker go first (a recovery that
needed them is answered ``recovered: false``), so a flood of large frames cannot grow the process.
The epoch is random per broker instance, so after a restart every client that asks to recover is told
``recovered: false`` instead of being handed offsets that now mean something else.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from command_center.hub.broker.base import (
    Deliver,
    PublishItem,
    PublishResult,
    Recovery,
    Reset,
    recovery_from_history,
    unique_users,
)
from command_center.hub.protocol import Message, Position


@dataclass(slots=True)
class _Channel:
    offset: int = 0
    history: deque[tuple[float, Message]] = field(default_factory=deque)
    presence: dict[str, dict[str, Any]] = field(default_factory=dict)


def _size(message: Message) -> int:
    # Python str of ASCII frames costs about its length plus a fixed header; close enough for a budget.
    return len(message.frame) + 120


class MemoryBroker:
    """Per-channel bounded history and offsets in this process."""

    def __init__(
        self,
        *,
        history_size: int = 1000,
        history_seconds: float = 86400,
        history_bytes: int = 64 * 1024 * 1024,
        idempotency_seconds: float = 86400,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.epoch = secrets.token_hex(4)
        self._history_size = history_size
        self._history_seconds = history_seconds
        self._history_bytes = history_bytes
        #: Bytes of frames held in all histories, and every held message in publish order (the eviction
        #: queue; entries of messages already trimmed from their channel are skipped when reached).
        self.history_bytes = 0
        self._held = 0
        self._order: deque[tuple[_Channel, int, int]] = deque()
        self._idempotency_seconds = idempotency_seconds
        self._clock = clock
        self._channels: dict[str, _Channel] = {}
        self._subscribed: set[str] = set()
        # Idempotency keys live as long as history (bounded the same way: by age, and by count); they keep
        # the offset only, never the frame, so remembered keys cost a few bytes each.
        self._seen: dict[str, tuple[float, int]] = {}
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver, reset: Reset) -> None:
        self._deliver = deliver

    async def close(self) -> None:
        self._deliver = None

    async def ping(self) -> bool:
        return True

    def _channel(self, channel: str) -> _Channel:
        state = self._channels.get(channel)
        if state is None:
            state = self._channels[channel] = _Channel()
        return state

    def _trim(self, state: _Channel, now: float) -> None:
        history = state.history
        horizon = now - self._history_seconds
        while history and (len(history) > self._history_size or history[0][0] < horizon):
            self._drop(history)

    def _drop(self, history: deque[tuple[float, Message]]) -> None:
        self.history_bytes -= _size(history.popleft()[1])
        self._held -= 1

    def _hold(self, state: _Channel, now: float, message: Message) -> None:
        """Append to the channel's history, then evict the broker's oldest messages past the byte budget."""
        size = _size(message)
        state.history.append((now, message))
        self.history_bytes += size
        self._held += 1
        self._order.append((state, message.offset, size))
        self._trim(state, now)
        order = self._order
        while self.history_bytes > self._history_bytes and order:
            old_state, offset, _ = order.popleft()
            history = old_state.history
            if history and history[0][1].offset == offset:
                self._drop(history)
        # Entries of messages trimmed by count or age linger in the queue: compact it now and then.
        if len(order) > 2 * self._held + 1024:
            self._order = deque(e for e in order if e[0].history and e[0].history[0][1].offset <= e[1])

    def _trim_seen(self, now: float) -> None:
        seen = self._seen
        horizon = now - self._idempotency_seconds
        limit = 100 * self._history_size
        while seen:  # dict order is insertion order: oldest first
            key = next(iter(seen))
            if seen[key][0] >= horizon and len(seen) <= limit:
                break
            del seen[key]

    async def publish(
        self, channel: str, data: dict[str, Any], *, idempotency_key: str | None = None
    ) -> PublishResult:
        return self._publish(channel, data, idempotency_key)

    def start_publish(
        self, channel: str, data: dict[str, Any], *, idempotency_key: str | None = None
    ) -> asyncio.Future[PublishResult]:
        future: asyncio.Future[PublishResult] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(self._publish(channel, data, idempotency_key))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def _publish(self, channel: str, data: dict[str, Any], idempotency_key: str | None) -> PublishResult:
        now = self._clock()
        if idempotency_key is not None:
            key = f"{channel}\x00{idempotency_key}"
            seen = self._seen.get(key)
            if seen is not None and now - seen[0] <= self._idempotency_seconds:
                return PublishResult(self._original(channel, seen[1], data), True)
        state = self._channel(channel)
        state.offset += 1
        message = Message.build(channel, state.offset, self.epoch, data)
        self._hold(state, now, message)
        if idempotency_key is not None:
            self._seen[key] = (now, message.offset)
            self._trim_seen(now)
        if channel in self._subscribed and self._deliver is not None:
            self._deliver(message)
        return PublishResult(message, False)

    async def publish_many(self, items: Sequence[PublishItem]) -> list[PublishResult]:
        return [await self.publish(c, d, idempotency_key=k) for c, d, k in items]

    def _original(self, channel: str, offset: int, data: dict[str, Any]) -> Message:
        """The message a repeated key first published, from history, or rebuilt around its offset."""
        state = self._channels.get(channel)
        if state is not None and state.history:
            first = state.history[0][1].offset
            if first <= offset < first + len(state.history):
                return state.history[offset - first][1]
        return Message.build(channel, offset, self.epoch, data)

    async def subscribe(self, channel: str) -> None:
        self._subscribed.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._subscribed.discard(channel)

    async def position(self, channel: str) -> Position:
        state = self._channels.get(channel)
        return Position(state.offset if state else 0, self.epoch)

    async def recover(self, channel: str, since: Position | None) -> Recovery:
        state = self._channel(channel)
        position = Position(state.offset, self.epoch)
        if since is None or since.epoch != self.epoch:
            return recovery_from_history(position, since, None)
        self._trim(state, self._clock())
        history = state.history
        if not history or history[0][1].offset > since.offset + 1:
            return recovery_from_history(position, since, None)
        # Offsets in the deque are consecutive: slice from the one after ``since``.
        start = since.offset + 1 - history[0][1].offset
        missed = [m for _, m in itertools.islice(history, start, None)]
        return recovery_from_history(position, since, missed)

    async def presence_join(self, channel: str, member: str, user: dict[str, Any]) -> None:
        self._channel(channel).presence[member] = user

    async def presence_leave(self, channel: str, member: str) -> None:
        state = self._channels.get(channel)
        if state is not None:
            state.presence.pop(member, None)

    async def presence(self, channel: str) -> list[dict[str, Any]]:
        state = self._channels.get(channel)
        return unique_users(list(state.presence.values())) if state else []
