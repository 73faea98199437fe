"""Domain events: written in the same transaction as the change, published on the hub after it commits.

Services call :func:`emit` with the session they changed; nothing reaches a screen unless the transaction
commits, and a failed commit publishes nothing. :func:`unit_of_work` is the one way background work (the
deadline sweep, the drill runner) opens a transaction, so it gets the same behaviour as a request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from command_center.db import Database

log = logging.getLogger(__name__)

_OUTBOX = "command_center.outbox"


class Publisher(Protocol):
    """What the hub offers the domain: publish one message on one channel."""

    async def publish(self, channel: str, data: dict[str, Any]) -> Any: ...


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def emit(
    session: AsyncSession,
    channels: str | list[str] | tuple[str, ...],
    *,
    type: str,
    id: int | str,
    drill: bool = False,
    departments: Iterable[str] = (),
    **state: Any,
) -> None:
    """Queue one event for every channel; ``type``, ``id`` and ``drill`` are on every message (DESIGN 4).

    ``board`` is the command room's view of everything. Department-scoped users (liaisons) read
    ``board:{department}`` instead, which carries only what their department takes part in: an event for
    ``board`` is copied to the boards of the ``departments`` given.
    """
    data = jsonable({"type": type, "id": id, "drill": drill, **state})
    outbox: list[tuple[str, dict[str, Any]]] = session.info.setdefault(_OUTBOX, [])
    targets = [channels] if isinstance(channels, str) else list(channels)
    if "board" in targets:
        targets += [department_board(d) for d in dict.fromkeys(departments)]
    for channel in targets:
        outbox.append((channel, data))


def department_board(department: str) -> str:
    return f"board:{department}"


def take_outbox(session: AsyncSession) -> list[tuple[str, dict[str, Any]]]:
    return session.info.pop(_OUTBOX, [])


async def publish_outbox(publisher: Publisher | None, events: list[tuple[str, dict[str, Any]]]) -> None:
    """Publish committed events in order; a broker failure is logged, never undoes the committed change.

    The database stays the source of truth: a screen that missed a message reloads the REST snapshot.
    """
    if publisher is None:
        return
    for channel, data in events:
        try:
            await publisher.publish(channel, data)
        except Exception:
            log.exception("could not publish %s on %s", data.get("type"), channel)


@asynccontextmanager
async def unit_of_work(database: Database, publisher: Publisher | None) -> AsyncIterator[AsyncSession]:
    async with database.session() as session:
        yield session
    await publish_outbox(publisher, take_outbox(session))
