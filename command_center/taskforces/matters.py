"""First-receiving responsibility (首接负责): a cross-department matter stays with the department that
received it until another department explicitly accepts a handover; requests, acceptances and refusals
are all recorded with who and when.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth.permissions import (
    Permission,
    department_scope,
    has_permission,
    require,
    require_department,
)
from command_center.auth.roles import Principal
from command_center.db import utcnow
from command_center.errors import Conflict, Forbidden, NotFound, ValidationFailed
from command_center.events import emit
from command_center.incidents import service as incidents
from command_center.taskforces import service as taskforces
from command_center.taskforces.models import Matter, MatterDepartment, MatterHistory
from command_center.taskforces.schemas import HandoverRequest, MatterCreate

#: The hub event each recorded action publishes.
EVENT_TYPES = {
    "matter.receive": "matter.received",
    "handover.request": "handover.requested",
    "handover.accept": "handover.accepted",
    "handover.refuse": "handover.refused",
}


def target(matter_id: int) -> str:
    return f"matter:{matter_id}"


def _channels(matter: Matter) -> list[str]:
    channels = ["board"]
    if matter.taskforce_id is not None:
        channels.append(taskforces.channel(matter.taskforce_id))
    if matter.incident_id is not None:
        channels.append(incidents.channel(matter.incident_id))
    return channels


def history_view(row: MatterHistory) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": row.at,
        "action": row.action,
        "actor_name": row.actor_name,
        "actor_department": row.actor_department,
        "from_department": row.from_department,
        "to_department": row.to_department,
        "reason": row.reason,
    }


async def history(session: AsyncSession, matter_id: int) -> list[MatterHistory]:
    query = select(MatterHistory).where(MatterHistory.matter_id == matter_id).order_by(MatterHistory.id)
    return list((await session.execute(query)).scalars().all())


async def view(session: AsyncSession, matter: Matter) -> dict[str, Any]:
    return {
        "id": matter.id,
        "title": matter.title,
        "description": matter.description,
        "first_department": matter.first_department,
        "owner_department": matter.owner_department,
        "pending_department": matter.pending_department,
        "pending_reason": matter.pending_reason,
        "taskforce_id": matter.taskforce_id,
        "incident_id": matter.incident_id,
        "drill": matter.drill,
        "created_at": matter.created_at,
        "history": [history_view(h) for h in await history(session, matter.id)],
    }


async def _record(
    session: AsyncSession,
    matter: Matter,
    action: str,
    principal: Principal,
    at: datetime,
    *,
    from_department: str | None = None,
    to_department: str | None = None,
    reason: str = "",
) -> None:
    session.add(
        MatterHistory(
            matter_id=matter.id,
            at=at,
            action=action,
            actor_id=principal.id,
            actor_name=principal.name,
            actor_department=principal.department,
            from_department=from_department,
            to_department=to_department,
            reason=reason,
        )
    )
    await session.flush()
    detail = {"from": from_department, "to": to_department, "reason": reason}
    await audit.record(session, action=action, actor=principal, target=target(matter.id), detail=detail)
    drill = matter.drill
    if matter.incident_id is not None:
        incident = await incidents.get(session, matter.incident_id)
        await incidents.record_event(
            session, incident, action, actor=principal, at=at, detail={"matter_id": matter.id, **detail}
        )
    emit(
        session,
        _channels(matter),
        departments=matter.departments,
        type=EVENT_TYPES[action],
        id=matter.id,
        drill=drill,
        matter=await view(session, matter),
    )


async def create(session: AsyncSession, *, principal: Principal, data: MatterCreate) -> Matter:
    """Register a matter as received by the caller's department (or, for the section, the one named)."""
    require(principal, Permission.task_work)
    received_by = data.received_by or principal.department
    await taskforces.check_departments(session, [received_by], "received_by")
    require_department(principal, {received_by}, f"a matter received by '{received_by}'")
    drill = False
    if data.taskforce_id is not None:
        taskforce = await taskforces.get_visible(session, principal, data.taskforce_id)
        if taskforce.closed_at is not None:
            raise Conflict(
                f"task force {data.taskforce_id} is closed; file the matter without it", field="taskforce_id"
            )
        drill = taskforce.drill
    if data.incident_id is not None:
        incident = await incidents.get_visible(session, principal, data.incident_id)
        if incident.closed_at is not None:
            raise Conflict(f"incident {data.incident_id} is closed", field="incident_id")
        drill = drill or incident.drill
    matter = Matter(
        title=data.title,
        description=data.description,
        first_department=received_by,
        owner_department=received_by,
        departments=[received_by],
        taskforce_id=data.taskforce_id,
        incident_id=data.incident_id,
        drill=drill,
        created_at=utcnow(),
        created_by_id=principal.id,
    )
    session.add(matter)
    await session.flush()
    await _record(session, matter, "matter.receive", principal, matter.created_at, to_department=received_by)
    return matter


def _can_see(principal: Principal, matter: Matter) -> bool:
    scope = department_scope(principal)
    return scope is None or bool(scope & {*matter.departments, matter.pending_department or ""})


def _require_read(principal: Principal) -> None:
    """Reading matters takes ``taskforce.read`` (the organizer, evaluators) or ``task.work`` (liaisons)."""
    if not (
        has_permission(principal, Permission.taskforce_read)
        or has_permission(principal, Permission.task_work)
    ):
        raise Forbidden(f"role '{principal.role.value}' may not {Permission.taskforce_read.value}")


async def get_visible(session: AsyncSession, principal: Principal, matter_id: int) -> Matter:
    _require_read(principal)
    matter = await session.get(Matter, matter_id)
    if matter is None:
        raise NotFound(f"matter {matter_id} does not exist", field="matter_id")
    if not _can_see(principal, matter):
        raise Forbidden(f"department '{principal.department}' does not take part in matter {matter_id}")
    return matter


async def list_visible(session: AsyncSession, *, principal: Principal, limit: int = 200) -> list[Matter]:
    """The newest matters this user may read (as for reading one), scoped in SQL before the limit."""
    _require_read(principal)
    query = select(Matter).order_by(Matter.id.desc()).limit(limit)
    scope = department_scope(principal)
    if scope is not None:
        codes = sorted(scope)
        involved = select(MatterDepartment.matter_id).where(MatterDepartment.department.in_(codes))
        query = query.where(Matter.id.in_(involved) | Matter.pending_department.in_(codes))
    return list((await session.execute(query)).scalars().all())


async def request_handover(
    session: AsyncSession, *, principal: Principal, matter_id: int, data: HandoverRequest
) -> Matter:
    """Ask another department to take the matter over; the owner stays responsible until it accepts."""
    require(principal, Permission.task_work)
    matter = await get_visible(session, principal, matter_id)
    directing = department_scope(principal) is None and has_permission(principal, Permission.taskforce_manage)
    if principal.department != matter.owner_department and not directing:
        raise Forbidden(
            f"only the owner department '{matter.owner_department}' may hand matter {matter_id} over"
        )
    await taskforces.check_departments(session, [data.to_department], "to_department")
    if matter.incident_id is not None:
        incident = await incidents.get(session, matter.incident_id)
        if data.to_department not in incident.departments:
            raise ValidationFailed(
                f"department '{data.to_department}' does not take part in incident {incident.id}, which "
                f"matter {matter_id} belongs to; add it to the incident (or its task force) first",
                field="to_department",
                params={"rule": "department_not_on_incident"},
            )
    if data.to_department == matter.owner_department:
        raise ValidationFailed(
            f"'{data.to_department}' already owns matter {matter_id}", field="to_department"
        )
    if matter.pending_department is not None:
        raise Conflict(
            f"matter {matter_id}: a handover to '{matter.pending_department}' is waiting for an answer"
        )
    matter.pending_department = data.to_department
    matter.pending_reason = data.reason
    if data.to_department not in matter.departments:
        matter.departments = [*matter.departments, data.to_department]
    await _record(
        session,
        matter,
        "handover.request",
        principal,
        utcnow(),
        from_department=matter.owner_department,
        to_department=data.to_department,
        reason=data.reason,
    )
    return matter


async def _pending_for(session: AsyncSession, principal: Principal, matter_id: int) -> Matter:
    require(principal, Permission.task_work)
    matter = await get_visible(session, principal, matter_id)
    if matter.pending_department is None:
        raise Conflict(f"no handover of matter {matter_id} is waiting for an answer")
    if principal.department != matter.pending_department:
        raise Forbidden(f"only department '{matter.pending_department}' may answer this handover")
    if matter.incident_id is not None:
        # Answering writes on the incident's timeline: a department that cannot read it may not write there.
        incident = await incidents.get(session, matter.incident_id)
        require_department(
            principal,
            set(incident.departments),
            f"incident {incident.id}, which matter {matter_id} belongs to",
        )
    return matter


async def accept_handover(session: AsyncSession, *, principal: Principal, matter_id: int) -> Matter:
    """The asked department accepts and owns the matter from now on (``handover.accept``, drill-scored)."""
    matter = await _pending_for(session, principal, matter_id)
    previous, new_owner = matter.owner_department, matter.pending_department
    assert new_owner is not None
    matter.owner_department = new_owner
    matter.pending_department = None
    reason, matter.pending_reason = matter.pending_reason, ""
    await _record(
        session,
        matter,
        "handover.accept",
        principal,
        utcnow(),
        from_department=previous,
        to_department=new_owner,
        reason=reason,
    )
    return matter


async def refuse_handover(
    session: AsyncSession, *, principal: Principal, matter_id: int, reason: str
) -> Matter:
    """The asked department refuses, with a reason; the first owner keeps the matter."""
    if not reason.strip():
        raise ValidationFailed("a refusal needs a reason", field="reason")
    matter = await _pending_for(session, principal, matter_id)
    asked = matter.pending_department
    matter.pending_department = None
    matter.pending_reason = ""
    await _record(
        session,
        matter,
        "handover.refuse",
        principal,
        utcnow(),
        from_department=matter.owner_department,
        to_department=asked,
        reason=reason,
    )
    return matter
