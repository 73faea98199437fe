"""Domain events: written in the same transaction as the change, published on the hub after it commits.

Services call :func:`emit` with the session they changed. The messages ride the session until it commits;
at commit they become outbox rows of that same transaction (:mod:`command_center.outbox`), and the relay
publishes them afterwards. Nothing reaches a screen unless the transaction commits, nothing committed is
lost when the broker is down or the process dies, and no caller ever waits on the broker.

:func:`unit_of_work` is the one way background work (the deadline sweep, the drill runner) opens a
transaction, so it behaves exactly as a request does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from command_center.db import Database
from command_center.hub import channels as names
from command_center.outbox import WAKE, write_rows

_PENDING = "command_center.events.pending"
_WROTE = "command_center.events.wrote"


class Publisher(Protocol):
    """What the hub offers: publish one message on one channel (kept for callers' type hints)."""

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
    targets = [channels] if isinstance(channels, str) else list(channels)
    if names.BOARD in targets:
        targets += [names.board(d) for d in dict.fromkeys(departments)]
    pending = _pending(session.sync_session)
    pending.extend((channel, data) for channel in targets)


def revoke_connections(session: AsyncSession, *, user_id: int, token_id: str | None = None) -> None:
    """Close the user's hub connections with 4401 on every process once this transaction commits.

    With ``token_id``, only the connections opened with that token (sign-out); without, all of them
    (``revoke-tokens``, deactivation). Call it in the transaction that revokes.
    """
    emit(session, names.CONTROL, type=names.REVOKED, id=user_id, token=token_id)


def _pending(session: Session) -> list[tuple[str, dict[str, Any]]]:
    pending: list[tuple[str, dict[str, Any]]] | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        # Per session, not per class: only sessions that emitted pay for the hooks.
        event.listen(session, "before_commit", _before_commit)
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_rollback", _after_rollback)
    return pending


def _before_commit(session: Session) -> None:
    pending: list[tuple[str, dict[str, Any]]] = session.info.get(_PENDING) or []
    if pending:
        messages = list(pending)
        pending.clear()
        session.info[_WROTE] = write_rows(session, messages)


def _after_commit(session: Session) -> None:
    rows = session.info.pop(_WROTE, None)
    if rows:
        wake = session.info.get(WAKE)
        if wake is not None:
            wake(rows)


def _after_rollback(session: Session) -> None:
    pending = session.info.get(_PENDING)
    if pending:
        pending.clear()
    session.info.pop(_WROTE, None)


@asynccontextmanager
async def unit_of_work(database: Database, publisher: Any = None) -> AsyncIterator[AsyncSession]:
    """A transaction for background work; its events leave through the outbox like a request's.

    ``publisher`` is accepted for the callers written before the outbox and not used: the relay publishes.
    """
    async with database.session() as session:
        yield session
