"""Ledger rules: items, three-colour warnings with stored clocks, resolution, escalation into an incident.

Every function changes the database, writes the item's history (who, what, when), audits what matters and
queues hub events on ``ledger`` (and ``board`` for what a commander must see), all in the caller's
transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth.models import Department
from command_center.auth.permissions import Permission, require
from command_center.auth.roles import Principal
from command_center.db import utcnow
from command_center.deadlines import service as deadlines
from command_center.deadlines.models import Deadline
from command_center.errors import Conflict, NotFound, ValidationFailed
from command_center.events import emit
from command_center.incidents import service as incidents
from command_center.incidents.schemas import IncidentCreate
from command_center.ledger.models import LedgerHistory, LedgerItem
from command_center.ledger.rules import (
    COLOUR_CLOCK,
    COLOUR_NAMES,
    COLOUR_RANK,
    SUBDOMAINS,
    Colour,
    Status,
    warn_before,
)
from command_center.ledger.schemas import Escalation, LedgerItemCreate, WarningChange
from command_center.settings import Settings

CHANNEL = "ledger"


def subject(item_id: int) -> str:
    return f"ledger:{item_id}"


async def get(session: AsyncSession, item_id: int) -> LedgerItem:
    item = await session.get(LedgerItem, item_id)
    if item is None:
        raise NotFound(f"ledger item {item_id} does not exist", field="item_id")
    return item


async def get_readable(session: AsyncSession, principal: Principal, item_id: int) -> LedgerItem:
    require(principal, Permission.ledger_read)
    return await get(session, item_id)


async def _get_open(session: AsyncSession, principal: Principal, item_id: int) -> LedgerItem:
    require(principal, Permission.ledger_write)
    item = await get(session, item_id)
    if item.status != Status.open:
        raise Conflict(
            f"ledger item {item_id} is {item.status}; only open items change",
            field="status",
            params={"rule": "ledger.not_open", "status": item.status},
        )
    return item


def _warning_due(colour: str, warning_since: datetime | None) -> datetime | None:
    return warning_since + COLOUR_CLOCK[Colour(colour)] if warning_since and colour != "none" else None


def is_overdue(item: Any, now: datetime) -> bool:
    """The one rule for "overdue", shared by an item's view and the statistics so they never disagree.

    Flagged by the sweep (``overdue_at``), or open and past its own deadline or its colour's clock (the
    sweep may not have run yet). ``item`` is a row or a :class:`LedgerItem`.
    """
    if item.overdue_at is not None:
        return True
    warning_due = _warning_due(item.colour, item.warning_since)
    clock_ran_out = warning_due is not None and now > warning_due
    return item.status == Status.open and (now > item.due_at or clock_ran_out)


def view(item: LedgerItem, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    warning_due = _warning_due(item.colour, item.warning_since)
    return {
        "id": item.id,
        "title": item.title,
        "description": item.description,
        "domain": item.domain,
        "subdomain": item.subdomain,
        "source": item.source,
        "responsible_department": item.responsible_department,
        "leader_in_charge": item.leader_in_charge,
        "due_at": item.due_at,
        "risk_grade": item.risk_grade,
        "colour": item.colour,
        "warning_since": item.warning_since,
        "warning_due_at": warning_due,
        "overdue": is_overdue(item, now),
        "overdue_at": item.overdue_at,
        "status": item.status,
        "resolution": item.resolution,
        "incident_id": item.incident_id,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


def history_view(row: LedgerHistory) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at,
        "action": row.action,
        "actor_name": row.actor_name,
        "actor_department": row.actor_department,
        "detail": row.detail,
    }


async def _record(
    session: AsyncSession,
    item: LedgerItem,
    action: str,
    *,
    actor: Principal | None,
    at: datetime,
    detail: dict[str, Any] | None = None,
) -> LedgerHistory:
    row = LedgerHistory(
        item_id=item.id,
        at=at,
        action=action,
        actor_id=actor.id if actor else None,
        actor_name=actor.name if actor else "system",
        actor_department=actor.department if actor else "",
        detail=detail or {},
    )
    session.add(row)
    item.updated_at = at
    await session.flush()
    return row


async def _check_department(session: AsyncSession, code: str, field: str) -> None:
    found = (await session.execute(select(Department.id).where(Department.code == code))).first()
    if found is None:
        raise NotFound(f"unknown department '{code}'", field=field)


async def _start_clock(
    session: AsyncSession, item: LedgerItem, colour: Colour, now: datetime, *, by: datetime | None = None
) -> None:
    """Cancel the running warning clock and, for a colour, start a fresh one from ``now``.

    ``by`` caps the new clock: a colour raised on an item whose clock runs out sooner keeps that sooner
    time (a higher risk never buys more time).
    """
    await deadlines.cancel(session, subject=subject(item.id), kind="warning", at=now)
    item.colour = colour.value
    item.warning_since = now if colour != Colour.none else None
    if colour == Colour.none:
        return
    await deadlines.schedule(
        session,
        subject=subject(item.id),
        kind="warning",
        starts_at=now,
        due_at=min(now + COLOUR_CLOCK[colour], by) if by is not None else now + COLOUR_CLOCK[colour],
        warn_before=warn_before(colour),
        channels=[CHANNEL],
        label=f"{COLOUR_NAMES[colour][0]} {COLOUR_NAMES[colour][1]}: {item.title}"[:200],
        responsible={"department": item.responsible_department, "leader": item.leader_in_charge},
    )


async def create(
    session: AsyncSession, *, principal: Principal, data: LedgerItemCreate, now: datetime | None = None
) -> LedgerItem:
    require(principal, Permission.ledger_write)
    now = now or utcnow()
    item = await build(session, principal=principal, data=data, now=now)
    await audit.record(session, action="ledger.create", actor=principal, target=subject(item.id))
    emit(session, CHANNEL, type="ledger.item_created", id=item.id, item=view(item, now))
    return item


async def build(
    session: AsyncSession, *, principal: Principal, data: LedgerItemCreate, now: datetime
) -> LedgerItem:
    """Validate and insert an item with its clocks and first history entry; no audit, no events (the demo
    seed uses this: it is audited once as a whole)."""
    if data.due_at <= now:
        raise ValidationFailed(
            "due_at is in the past; give a future deadline", field="due_at", params={"rule": "time.past"}
        )
    allowed = SUBDOMAINS.get(data.domain, frozenset())
    if data.subdomain is not None and data.subdomain not in allowed:
        choices = ", ".join(sorted(allowed)) or "none"
        raise ValidationFailed(
            f"subdomain '{data.subdomain.value}' is not part of '{data.domain.value}' (choose: {choices})",
            field="subdomain",
            params={
                "rule": "ledger.subdomain",
                "subdomain": data.subdomain.value,
                "domain": data.domain.value,
            },
        )
    await _check_department(session, data.responsible_department, "responsible_department")
    item = LedgerItem(
        title=data.title,
        description=data.description,
        domain=data.domain.value,
        subdomain=data.subdomain.value if data.subdomain else None,
        source=data.source.value,
        responsible_department=data.responsible_department,
        leader_in_charge=data.leader_in_charge,
        due_at=data.due_at,
        risk_grade=data.risk_grade.value,
        colour=Colour.none.value,
        status=Status.open.value,
        created_at=now,
        created_by_id=principal.id,
        updated_at=now,
    )
    session.add(item)
    await session.flush()
    await deadlines.schedule(
        session,
        subject=subject(item.id),
        kind="due",
        starts_at=now,
        due_at=data.due_at,
        warn_before=min(data.due_at - now, COLOUR_CLOCK[Colour.red]) / 4,
        channels=[CHANNEL],
        label=f"台账期限 ledger deadline: {item.title}"[:200],
        responsible={"department": item.responsible_department, "leader": item.leader_in_charge},
    )
    if data.colour != Colour.none:
        await _start_clock(session, item, data.colour, now)
    await _record(
        session,
        item,
        "ledger.create",
        actor=principal,
        at=now,
        detail={"colour": item.colour, "risk_grade": item.risk_grade, "due_at": item.due_at.isoformat()},
    )
    return item


async def set_warning(
    session: AsyncSession, *, principal: Principal, item_id: int, data: WarningChange
) -> LedgerItem:
    """Change the colour: raising restarts the clock; lowering (or clearing) needs a recorded reason."""
    item = await _get_open(session, principal, item_id)
    now = utcnow()
    previous = Colour(item.colour)
    if data.colour == previous:
        raise Conflict(
            f"ledger item {item_id} is already {previous.value}",
            field="colour",
            params={"rule": "ledger.same_colour", "colour": previous.value},
        )
    lowering = COLOUR_RANK[data.colour] < COLOUR_RANK[previous]
    if lowering and not data.reason.strip():
        raise ValidationFailed(
            f"lowering the warning from {previous.value} to {data.colour.value} needs a reason",
            field="reason",
            params={"rule": "ledger.lower_needs_reason", "from": previous.value, "to": data.colour.value},
        )
    running = await deadlines.open_deadlines(session, subject(item.id), "warning")
    # Raised: the higher colour's clock, but never later than the clock that was running, and a miss
    # stays a miss (found in review: raising an overdue yellow item to orange erased it and gave it more
    # time than yellow had left). Lowered, with its recorded reason: a fresh clock, on time again unless
    # the item's own deadline has passed.
    by = min((d.due_at for d in running), default=None) if not lowering else None
    await _start_clock(session, item, data.colour, now, by=by)
    if lowering and now <= item.due_at:
        item.overdue_at = None
    action = "ledger.warning_lowered" if lowering else "ledger.warning_raised"
    detail = {"from": previous.value, "to": data.colour.value, "reason": data.reason}
    await _record(session, item, action, actor=principal, at=now, detail=detail)
    await audit.record(session, action=action, actor=principal, target=subject(item.id), detail=detail)
    channels = [CHANNEL, "board"] if data.colour == Colour.red else [CHANNEL]
    emit(session, channels, type=action, id=item.id, item=view(item, now), previous=previous.value)
    return item


async def resolve(session: AsyncSession, *, principal: Principal, item_id: int, note: str) -> LedgerItem:
    item = await _get_open(session, principal, item_id)
    now = utcnow()
    item.status = Status.resolved.value
    item.resolution = note
    await deadlines.complete(session, subject=subject(item.id), kind="due", at=now)
    await deadlines.cancel(session, subject=subject(item.id), kind="warning", at=now)
    await _record(session, item, "ledger.resolve", actor=principal, at=now, detail={"note": note})
    await audit.record(session, action="ledger.resolve", actor=principal, target=subject(item.id))
    emit(session, CHANNEL, type="ledger.resolved", id=item.id, item=view(item, now))
    return item


async def escalate(
    session: AsyncSession, *, principal: Principal, item_id: int, data: Escalation, settings: Settings
) -> tuple[LedgerItem, Any]:
    """Turn the item into an incident that keeps the link both ways; the item's clocks stop."""
    item = await _get_open(session, principal, item_id)
    incident, _ = await incidents.create(
        session,
        principal=principal,
        data=IncidentCreate(
            title=data.title or item.title,
            category=data.category,
            address=data.address,
            headcount=data.headcount,
            demands=data.demands or item.description,
            departments=[item.responsible_department, *data.departments],
            ledger_item_id=item.id,
        ),
        settings=settings,
    )
    now = utcnow()
    item.status = Status.escalated.value
    item.incident_id = incident.id
    await deadlines.cancel(session, subject=subject(item.id), at=now)
    await _record(
        session, item, "ledger.escalate", actor=principal, at=now, detail={"incident_id": incident.id}
    )
    await audit.record(
        session,
        action="ledger.escalate",
        actor=principal,
        target=subject(item.id),
        detail={"incident_id": incident.id},
    )
    emit(
        session,
        [CHANNEL, "board"],
        type="ledger.escalated",
        id=item.id,
        item=view(item, now),
        incident_id=incident.id,
    )
    return item, incident


async def list_items(
    session: AsyncSession,
    *,
    principal: Principal,
    status: str | None = None,
    colour: str | None = None,
    domain: str | None = None,
    department: str | None = None,
    limit: int = 200,
) -> list[LedgerItem]:
    require(principal, Permission.ledger_read)
    query = select(LedgerItem).order_by(LedgerItem.id.desc()).limit(limit)
    for column, value in (
        (LedgerItem.status, status),
        (LedgerItem.colour, colour),
        (LedgerItem.domain, domain),
        (LedgerItem.responsible_department, department),
    ):
        if value is not None:
            query = query.where(column == value)
    return list((await session.execute(query)).scalars().all())


async def stats(
    session: AsyncSession,
    *,
    principal: Principal,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Counts for the quarterly risk analysis: items created in [since, until) by colour, domain, source..."""
    require(principal, Permission.ledger_read)
    query = select(LedgerItem)
    if since is not None:
        query = query.where(LedgerItem.created_at >= since)
    if until is not None:
        query = query.where(LedgerItem.created_at < until)
    rows = query.subquery()
    result: dict[str, Any] = {"since": since, "until": until}
    for name in ("colour", "domain", "source", "risk_grade", "status", "responsible_department"):
        column = rows.c[name]
        counted = await session.execute(select(column, func.count()).group_by(column).order_by(column))
        result[f"by_{name}"] = {str(key): int(n) for key, n in counted.all()}
    result["total"] = sum(result["by_status"].values())
    now = utcnow()
    # The items' own rule (``is_overdue``), so the count matches what every item says after any change.
    # Times are read through the model so SQLite's naive values come back as UTC.
    items = (await session.execute(select(LedgerItem).where(LedgerItem.id.in_(select(rows.c.id))))).scalars()
    result["overdue"] = sum(1 for item in items if is_overdue(item, now))
    return result


async def history(session: AsyncSession, *, principal: Principal, item_id: int) -> list[LedgerHistory]:
    await get_readable(session, principal, item_id)
    query = select(LedgerHistory).where(LedgerHistory.item_id == item_id).order_by(LedgerHistory.id)
    return list((await session.execute(query)).scalars().all())


async def on_deadline_missed(session: AsyncSession, deadline: Deadline, now: datetime) -> None:
    """A warning clock or the item's own deadline ran out: flag it overdue and escalate to the board."""
    item = await session.get(LedgerItem, int(deadline.subject.split(":", 1)[1]))
    if item is None or item.status != Status.open:
        return
    if item.overdue_at is None:
        item.overdue_at = now
    detail: dict[str, Any] = {
        "kind": deadline.kind,
        "colour": item.colour,
        "due_at": deadline.due_at.isoformat(),
    }
    await _record(session, item, "ledger.overdue", actor=None, at=now, detail=detail)
    await audit.record(session, action="ledger.overdue", target=subject(item.id), detail=detail)
    emit(session, [CHANNEL, "board"], type="ledger.overdue", id=item.id, item=view(item, now), **detail)
