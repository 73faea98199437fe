"""The broker interface: positions, bounded history, live fan-out and presence for the hub.

A broker is process-wide. The hub asks it to ``subscribe`` a channel once per process (however many
WebSocket clients listen there) and receives every live message of that channel through the ``deliver``
callback given to ``start``, exactly once and in offset order. ``recover`` answers a reconnecting client
from the bounded history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from command_center.errors import CommandCenterError
from command_center.hub.protocol import Message, Position

#: Live messages of subscribed channels, in offset order, once each.
Deliver = Callable[[Message], None]
#: A channel's history was lost (new epoch): subscribers must be told ``recovered: false``.
Reset = Callable[[str, Position], None]


class BrokerUnavailable(CommandCenterError):
    """The broker backend cannot be reached; the operation may be retried."""

    code = "unavailable"
    status_code = 503


@dataclass(slots=True)
class Recovery:
    """The answer to a (re)subscribe: the channel's position, and what the client missed."""

    position: Position
    recovered: bool | None  # None when the client gave no ``since``
    messages: list[Message] = field(default_factory=list)


#: ``(channel, data, idempotency key or None)``: one message of ``Broker.publish_many``.
PublishItem = tuple[str, dict[str, Any], str | None]


@dataclass(slots=True)
class PublishResult:
    message: Message
    duplicate: bool  # the idempotency key was seen before; ``message`` is the original's position


class Broker(Protocol):
    """What the hub needs from a backend; ``memory://`` and ``redis://`` implement it."""

    async def start(self, deliver: Deliver, reset: Reset) -> None: ...

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """Tell whether the backend answers; never raise (used by ``/healthz``)."""
        ...

    async def publish(
        self, channel: str, data: dict[str, Any], *, idempotency_key: str | None = None
    ) -> PublishResult:
        """Append to the channel's history, assigning the next offset atomically, and fan out."""
        ...

    async def publish_many(self, items: Sequence[PublishItem]) -> list[PublishResult]:
        """Publish several messages in order, in as few round trips as the backend allows (the relay's)."""
        ...

    def start_publish(
        self, channel: str, data: dict[str, Any], *, idempotency_key: str | None = None
    ) -> asyncio.Future[PublishResult]:
        """``publish``, started now: publishes started one after another are stored in that order.

        For a connection that reads on while its publishes are stored (``hub/acks.py``).
        """
        ...

    async def subscribe(self, channel: str) -> None:
        """Start live delivery of ``channel`` to this process; return once no later message can be missed."""
        ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def recover(self, channel: str, since: Position | None) -> Recovery: ...

    async def position(self, channel: str) -> Position: ...

    async def presence_join(self, channel: str, member: str, user: dict[str, Any]) -> None: ...

    async def presence_leave(self, channel: str, member: str) -> None: ...

    async def presence(self, channel: str) -> list[dict[str, Any]]: ...


def recovery_from_history(
    channel_position: Position, since: Position | None, history: list[Message] | None
) -> Recovery:
    """Decide ``recovered`` from a contiguous history slice ``history`` of offsets after ``since``.

    ``history`` must hold the messages after ``since.offset`` up to ``channel_position.offset`` that
    the backend still has (oldest first), or None when the backend could not look.
    """
    if since is None:
        return Recovery(channel_position, None)
    if since.epoch != channel_position.epoch or since.offset > channel_position.offset:
        return Recovery(channel_position, False)
    wanted = channel_position.offset - since.offset
    if wanted == 0:
        return Recovery(channel_position, True)
    if history is None or len(history) != wanted or history[0].offset != since.offset + 1:
        return Recovery(channel_position, False)
    return Recovery(channel_position, True, history)


def unique_users(users: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Deduplicate presence entries by user id, keeping the first seen; sorted by id for stable answers."""
    seen: dict[Any, dict[str, Any]] = {}
    for user in users:
        seen.setdefault(user.get("id"), user)
    return sorted(seen.values(), key=lambda u: str(u.get("id")))
