"""Schedule, complete and sweep deadlines.

A deadline is a stored due time, never an in-memory timer, so a restarted server finds what fell due while
it was down. :func:`sweep` claims each warning and each miss with a conditional ``UPDATE ... WHERE
warned_at IS NULL``: when several processes sweep at once, exactly one of them wins each row and alerts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.deadlines.models import Deadline
from command_center.events import emit

#: Called inside the sweep's transaction when a deadline is missed, per subject type ("incident", "task").
MissHandler = Callable[[AsyncSession, Deadline, datetime], Awaitable[None]]


async def schedule(
    session: AsyncSession,
    *,
    subject: str,
    kind: str,
    starts_at: datetime,
    due_at: datetime,
    warn_before: timedelta,
    channels: Iterable[str],
    label: str = "",
    drill: bool = False,
    responsible: Mapping[str, Any] | None = None,
) -> Deadline:
    deadline = Deadline(
        subject=subject,
        kind=kind,
        label=label,
        starts_at=starts_at,
        due_at=due_at,
        warn_at=max(starts_at, due_at - warn_before),
        drill=drill,
        channels=list(channels),
        responsible=dict(responsible or {}),
    )
    session.add(deadline)
    await session.flush()
    return deadline


async def open_deadlines(session: AsyncSession, subject: str, kind: str | None = None) -> list[Deadline]:
    query = select(Deadline).where(Deadline.subject == subject, Deadline.done_at.is_(None))
    if kind:
        query = query.where(Deadline.kind == kind)
    return list((await session.execute(query.order_by(Deadline.due_at))).scalars().all())


async def for_subject(session: AsyncSession, subject: str) -> list[Deadline]:
    query = select(Deadline).where(Deadline.subject == subject).order_by(Deadline.due_at)
    return list((await session.execute(query)).scalars().all())


async def complete(session: AsyncSession, *, subject: str, kind: str, at: datetime) -> list[Deadline]:
    """Mark the subject's open deadlines of this kind as met (or met late) at ``at``."""
    done = await open_deadlines(session, subject, kind)
    for deadline in done:
        deadline.done_at = at
    return done


async def cancel(session: AsyncSession, *, subject: str, at: datetime, kind: str | None = None) -> None:
    """Close open deadlines that no longer apply (the matter was closed or its clock restarted).

    ``done_at`` stops the sweep; ``cancelled_at`` keeps the difference from a met deadline visible.
    """
    for deadline in await open_deadlines(session, subject, kind):
        deadline.done_at = at
        deadline.cancelled_at = at
        deadline.responsible = {**deadline.responsible, "cancelled": True}


def view(deadline: Deadline, now: datetime) -> dict[str, Any]:
    """The state a screen shows: due time, seconds left and a status that turns amber then red."""
    if deadline.cancelled_at is not None:
        status = "cancelled"
    elif deadline.done_at is not None:
        status = "met" if deadline.done_at <= deadline.due_at else "met_late"
    elif deadline.missed_at is not None or now >= deadline.due_at:
        status = "missed"
    elif deadline.warned_at is not None or now >= deadline.warn_at:
        status = "warning"
    else:
        status = "pending"
    return {
        "id": deadline.id,
        "subject": deadline.subject,
        "kind": deadline.kind,
        "label": deadline.label,
        "starts_at": deadline.starts_at,
        "due_at": deadline.due_at,
        "warn_at": deadline.warn_at,
        "done_at": deadline.done_at,
        "cancelled_at": deadline.cancelled_at,
        "status": status,
        "seconds_left": int((deadline.due_at - now).total_seconds()),
        "drill": deadline.drill,
        "responsible": deadline.responsible,
    }


#: What a sweep claims, in order: warnings (``warned_at`` set once ``warn_at`` passed), then misses.
_SWEEPS = ((Deadline.warned_at, Deadline.warn_at), (Deadline.missed_at, Deadline.due_at))


def _due(marker: Any, due_column: Any, now: datetime) -> Any:
    """An open deadline whose ``due_column`` has passed and whose ``marker`` no sweep has set yet."""
    return Deadline.done_at.is_(None) & marker.is_(None) & (due_column <= now)


async def _claim(
    session: AsyncSession, *, marker: Any, due_column: Any, now: datetime
) -> AsyncIterator[Deadline]:
    """Yield each open deadline whose ``due_column`` has passed and whose ``marker`` this call set first.

    The conditional UPDATE is the claim: of several processes sweeping at once, one wins each row.
    """
    candidates = (
        (await session.execute(select(Deadline.id).where(_due(marker, due_column, now)))).scalars().all()
    )
    for deadline_id in candidates:
        # An UPDATE's result is a CursorResult (it has rowcount); Session.execute is typed for any statement.
        claimed = cast(
            "CursorResult[Any]",
            await session.execute(
                update(Deadline).where(Deadline.id == deadline_id, marker.is_(None)).values({marker: now})
            ),
        )
        if claimed.rowcount == 1:
            deadline = await session.get(Deadline, deadline_id)
            assert deadline is not None
            await session.refresh(deadline)
            yield deadline


def _alert(session: AsyncSession, deadline: Deadline, type_: str, now: datetime) -> None:
    responsible = deadline.responsible or {}
    departments = responsible.get("departments") or [d for d in [responsible.get("department")] if d]
    emit(
        session,
        ["board", *deadline.channels],
        departments=departments,
        type=type_,
        id=deadline.id,
        drill=deadline.drill,
        deadline=view(deadline, now),
    )


async def anything_due(session: AsyncSession, *, now: datetime) -> bool:
    """Whether a sweep at ``now`` would find a warning or a miss to claim (a plain read, no claim)."""
    due = or_(*(_due(marker, column, now) for marker, column in _SWEEPS))
    query = select(Deadline.id).where(due).limit(1)
    return (await session.execute(query)).first() is not None


async def sweep(session: AsyncSession, *, now: datetime, on_missed: Mapping[str, MissHandler]) -> int:
    """Warn about deadlines about to pass and escalate missed ones; return how many alerts this call won."""
    alerts = 0
    (warned, warn_at), (missed, due_at) = _SWEEPS
    async for deadline in _claim(session, marker=warned, due_column=warn_at, now=now):
        if deadline.due_at > now:  # a warning claimed after the deadline passed is not sent: the miss is
            _alert(session, deadline, "deadline.warning", now)
            alerts += 1
    async for deadline in _claim(session, marker=missed, due_column=due_at, now=now):
        _alert(session, deadline, "deadline.missed", now)
        handler = on_missed.get(deadline.subject.split(":", 1)[0])
        if handler is not None:
            await handler(session, deadline, now)
        alerts += 1
    return alerts
