"""Incident rules: creation with report deadlines, reports, stages in order, zones, the soft working group.

Every function changes the database, writes the incident's timeline (who, what, when), audits what matters
and queues hub events, all in the caller's transaction: either everything happens or nothing does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth import service as auth
from command_center.auth.permissions import (
    NotVisible,
    Permission,
    department_scope,
    require,
    require_department,
)
from command_center.auth.roles import Principal
from command_center.db import utcnow
from command_center.deadlines import service as deadlines
from command_center.deadlines.models import Deadline
from command_center.errors import Conflict, Forbidden, NotFound, ValidationFailed
from command_center.events import emit
from command_center.incidents.models import Incident, IncidentDepartment, IncidentEvent
from command_center.incidents.rules import (
    Category,
    Stage,
    given,
)
from command_center.incidents.schemas import (
    IncidentCreate,
)
from command_center.settings import Settings

CYBERSPACE_DEPARTMENT = "cyberspace"


def channel(incident_id: int) -> str:
    return f"incident:{incident_id}"


def subject(incident_id: int) -> str:
    return f"incident:{incident_id}"


def can_see(principal: Principal, incident: Incident) -> bool:
    scope = department_scope(principal)
    return scope is None or bool(scope & set(incident.departments))


async def get(session: AsyncSession, incident_id: int, *, for_update: bool = False) -> Incident:
    """The incident; ``for_update`` locks its row until commit (PostgreSQL; SQLite writers queue anyway)."""
    incident = await session.get(Incident, incident_id, with_for_update=True if for_update else None)
    if incident is None:
        raise NotFound(f"incident {incident_id} does not exist", field="incident_id")
    return incident


async def get_visible(
    session: AsyncSession, principal: Principal, incident_id: int, *, for_update: bool = False
) -> Incident:
    """The incident if this user may read it; outside its departments it "does not exist" (404, audited)."""
    require(principal, Permission.incident_read)
    incident = await get(session, incident_id, for_update=for_update)
    if not can_see(principal, incident):
        raise NotVisible(f"incident {incident_id} does not exist", field="incident_id")
    return incident


def in_scope(principal: Principal) -> Any:
    """The SQL condition "an incident this user's departments take part in", or ``None`` for everyone."""
    scope = department_scope(principal)
    if scope is None:
        return None
    return Incident.id.in_(
        select(IncidentDepartment.incident_id).where(IncidentDepartment.department.in_(sorted(scope)))
    )


async def get_for_action(session: AsyncSession, principal: Principal, incident_id: int) -> Incident:
    """Load an incident someone wants to change: permission, department scope, and not closed.

    Its row stays locked until the change commits: two screens acting at once (the commander skipping to
    de-escalation while the duty officer clicks "next stage") decide one after the other, each on the
    stage the other left, instead of both on the stage they read and the later write winning.
    """
    require(principal, Permission.incident_write)
    incident = await get_visible(session, principal, incident_id, for_update=True)
    if incident.closed_at is not None:
        raise Conflict(f"incident {incident_id} is closed", params={"rule": "incident.closed"})
    return incident


async def record_event(
    session: AsyncSession,
    incident: Incident,
    action: str,
    *,
    actor: Principal | None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> IncidentEvent:
    """Write one timeline entry; the drill engine scores these actions by their wall-clock time."""
    event = IncidentEvent(
        incident_id=incident.id,
        at=at or utcnow(),
        action=action,
        actor_id=actor.id if actor else None,
        actor_name=actor.name if actor else "system",
        actor_role=actor.role.value if actor else "",
        actor_department=actor.department if actor else "",
        detail=detail or {},
        drill=incident.drill,
    )
    session.add(event)
    await session.flush()
    emit(
        session,
        channel(incident.id),
        type="incident.event",
        id=incident.id,
        drill=incident.drill,
        event=event_view(event),
    )
    return event


def announce(session: AsyncSession, incident: Incident, type_: str, /, **state: Any) -> None:
    """Tell the command room, the incident's own channel and the boards of every department taking part."""
    emit(
        session,
        ["board", channel(incident.id)],
        departments=incident.departments,
        type=type_,
        id=incident.id,
        drill=incident.drill,
        **state,
    )


def event_view(event: IncidentEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at,
        "action": event.action,
        "actor_name": event.actor_name,
        "actor_role": event.actor_role,
        "actor_department": event.actor_department,
        "detail": event.detail,
        "drill": event.drill,
    }


async def view(
    session: AsyncSession,
    incident: Incident,
    now: datetime | None = None,
    *,
    deadline_rows: Sequence[Deadline] | None = None,
) -> dict[str, Any]:
    """The incident as the API and the hub show it; ``deadline_rows`` when the caller holds them already."""
    now = now or utcnow()
    if deadline_rows is None:
        deadline_rows = await deadlines.for_subject(session, subject(incident.id))
    location = (
        {"lat": incident.location_lat, "lon": incident.location_lon}
        if incident.location_lat is not None and incident.location_lon is not None
        else None
    )
    return {
        "id": incident.id,
        "title": incident.title,
        "category": incident.category,
        "stage": incident.stage,
        "address": incident.address,
        "location": location,
        "headcount": incident.headcount,
        "demands": incident.demands,
        "dynamics": incident.dynamics,
        "first_department": incident.first_department,
        "departments": incident.departments,
        "online_track": incident.online_track,
        "started_at": incident.started_at,
        "created_at": incident.created_at,
        "closed_at": incident.closed_at,
        "drill": incident.drill,
        "drill_id": incident.drill_id,
        "ledger_item_id": incident.ledger_item_id,
        "created_by_id": incident.created_by_id,
        "zones": incident.zones,
        "team": incident.team,
        "deadlines": [deadlines.view(d, now) for d in sorted(deadline_rows, key=lambda d: d.due_at)],
    }


async def _check_departments(session: AsyncSession, codes: Iterable[str]) -> list[str]:
    known = {d.code for d in await auth.list_departments(session)}
    result: list[str] = []
    for code in codes:
        if code not in known:
            raise NotFound(f"unknown department '{code}'", field="departments")
        if code not in result:
            result.append(code)
    return result


async def create(
    session: AsyncSession,
    *,
    principal: Principal,
    data: IncidentCreate,
    settings: Settings,
    drill_id: int | None = None,
    time_scale: float = 1.0,
    now: datetime | None = None,
) -> tuple[Incident, dict[str, Any]]:
    """Open an incident at the information-report stage and start its two report clocks; return it and
    its view (what the hub announced, and what the POST answers).

    A drill run at compressed time (``time_scale`` 60: an hour in a minute) compresses the clocks alike.
    """
    require(principal, Permission.incident_write)
    now = now or utcnow()
    started_at = data.started_at or now
    if started_at > now + timedelta(minutes=1):
        raise ValidationFailed(
            "started_at is in the future", field="started_at", params={"rule": "time.future"}
        )
    _check_collective_headcount(data, settings)
    first = data.first_department or principal.department
    scope = department_scope(principal)
    if scope is not None and first not in scope:
        raise Forbidden(
            f"department '{principal.department}' cannot name '{first}' as the first-receiving "
            "department; only its own",
            field="first_department",
            params={"rule": "first_department_own"},
        )
    departments = await _check_departments(session, [first, *data.departments])
    require_department(principal, set(departments), "this incident")
    incident = Incident(
        title=data.title,
        category=data.category.value,
        stage=Stage.information_report.value,
        location_lat=data.location.lat if data.location else None,
        location_lon=data.location.lon if data.location else None,
        address=data.address,
        headcount=data.headcount,
        demands=data.demands if given(data.demands) else "",  # whitespace is no demand
        dynamics=data.dynamics if given(data.dynamics) else "",
        first_department=first,
        departments=departments,
        started_at=started_at,
        created_at=now,
        created_by_id=principal.id,
        drill=drill_id is not None,
        drill_id=drill_id,
        ledger_item_id=data.ledger_item_id,
        zones={},
        team=[],
    )
    session.add(incident)
    await session.flush()
    warn = timedelta(minutes=settings.deadline_warning_minutes) / time_scale
    responsible = {"department": first, "departments": departments, "user_ids": [principal.id]}
    channels = [channel(incident.id), f"user:{principal.id}"]
    clocks: list[Deadline] = []
    for kind, minutes, label in (
        ("phone_report", settings.phone_report_minutes, "电话报告 phone report"),
        ("written_report", settings.written_report_minutes, "书面报告 written report"),
    ):
        clock = await deadlines.schedule(
            session,
            subject=subject(incident.id),
            kind=kind,
            starts_at=started_at,
            due_at=started_at + timedelta(minutes=minutes) / time_scale,
            warn_before=warn,
            channels=channels,
            label=label,
            drill=incident.drill,
            responsible=responsible,
        )
        clocks.append(clock)
    await record_event(
        session,
        incident,
        "incident.create",
        actor=principal,
        at=now,
        detail={"category": incident.category, "first_department": first},
    )
    await audit.record(
        session,
        action="incident.create",
        actor=principal,
        target=subject(incident.id),
        detail={"drill": incident.drill, "category": incident.category},
    )
    # Its only deadlines are the two just scheduled: the view needs no query (the POST's response is this
    # view too), which keeps the database's write lock, which every other write waits for, a little shorter.
    created = await view(session, incident, now, deadline_rows=clocks)
    announce(session, incident, "incident.created", incident=created)
    return incident, created


def _check_collective_headcount(data: IncidentCreate, settings: Settings) -> None:
    """A collective petition (集体访) is at least ``CC_COLLECTIVE_MIN_HEADCOUNT`` people (5, DOMAIN.md).

    A smaller group is refused with the rule named, so the reporter corrects the headcount or picks the
    category that fits; an unknown headcount (``None``) is allowed, it is reported later.
    """
    minimum = settings.collective_min_headcount
    if data.category != Category.collective_petition or data.headcount is None or data.headcount >= minimum:
        return
    raise ValidationFailed(
        f"a collective petition (集体访) is {minimum} or more people petitioning together; {data.headcount} "
        f"given (rule: collective_min_headcount = {minimum}). Correct the headcount, or re-categorise as "
        "skip_level_petition, disruptive_petition or extreme_behaviour",
        field="headcount",
        params={"rule": "collective_min_headcount", "minimum": minimum, "headcount": data.headcount},
    )


async def add_departments(session: AsyncSession, incident: Incident, codes: Iterable[str]) -> None:
    """Widen who takes part (a task force linked the incident); never narrows."""
    incident.departments = await _check_departments(session, [*incident.departments, *codes])


async def list_visible(
    session: AsyncSession,
    *,
    principal: Principal,
    include_closed: bool = False,
    drill: bool | None = None,
    limit: int = 200,
) -> list[Incident]:
    """The newest incidents this user may see; the department scope is applied in SQL, before the limit."""
    require(principal, Permission.incident_read)
    query = select(Incident).order_by(Incident.id.desc()).limit(limit)
    scope = in_scope(principal)
    if scope is not None:
        query = query.where(scope)
    if not include_closed:
        query = query.where(Incident.closed_at.is_(None))
    if drill is not None:
        query = query.where(Incident.drill.is_(drill))
    return list((await session.execute(query)).scalars().all())


async def timeline(session: AsyncSession, *, principal: Principal, incident_id: int) -> list[IncidentEvent]:
    await get_visible(session, principal, incident_id)
    query = (
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(IncidentEvent.at, IncidentEvent.id)
    )
    return list((await session.execute(query)).scalars().all())


def require_statistics(principal: Principal) -> None:
    """Statistics count every department's incidents, so a department-scoped user (a liaison) gets none."""
    require(principal, Permission.incident_read)
    if department_scope(principal) is not None:
        raise Forbidden(
            f"role '{principal.role.value}' sees only its own department's incidents, not the statistics "
            "of all of them"
        )


async def stats(session: AsyncSession) -> dict[str, Any]:
    """Real statistics: drill incidents never count (DOMAIN.md, conventions)."""
    real = select(Incident).where(Incident.drill.is_(False)).subquery()
    by_category: dict[str, int] = dict(
        (await session.execute(select(real.c.category, func.count()).group_by(real.c.category))).all()
    )
    by_stage: dict[str, int] = dict(
        (await session.execute(select(real.c.stage, func.count()).group_by(real.c.stage))).all()
    )
    total = sum(by_category.values())
    open_count = (
        await session.execute(select(func.count()).select_from(real).where(real.c.closed_at.is_(None)))
    ).scalar_one()
    return {"total": total, "open": open_count, "by_category": by_category, "by_stage": by_stage}


async def on_deadline_missed(session: AsyncSession, deadline: Deadline, now: datetime) -> None:
    """A report deadline passed: write it on the incident's timeline and escalate on the board."""
    incident = await session.get(Incident, int(deadline.subject.split(":", 1)[1]))
    if incident is None or incident.closed_at is not None:
        return
    await record_event(
        session,
        incident,
        "deadline.missed",
        actor=None,
        at=now,
        detail={"kind": deadline.kind, "due_at": deadline.due_at.isoformat()},
    )
    await audit.record(
        session,
        action="deadline.missed",
        target=subject(incident.id),
        detail={"kind": deadline.kind, "drill": incident.drill},
    )
