"""Task force rules: "1 + N" membership, who may see what, linked incidents and the channel's messages.

A department-scoped user (a liaison) sees a task force, its channel, tasks and linked incidents only while
its department is the lead or a member; everyone else with ``taskforce.read`` sees all of them.
:func:`can_access` is the rule the hub consults for ``taskforce:{id}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth.models import Department
from command_center.auth.permissions import (
    Permission,
    department_scope,
    has_permission,
    require,
    require_department,
)
from command_center.auth.roles import SECTION_DEPARTMENT, Principal
from command_center.db import utcnow
from command_center.errors import Conflict, Forbidden, NotFound, ValidationFailed
from command_center.events import emit
from command_center.incidents import service as incidents
from command_center.taskforces.models import Task, TaskForce, TaskForceIncident, TaskForceMember
from command_center.taskforces.schemas import TaskForceCreate

#: "1 + N": the section leads every joint task force (DOMAIN.md).
LEAD_DEPARTMENT = SECTION_DEPARTMENT


def channel(taskforce_id: int) -> str:
    return f"taskforce:{taskforce_id}"


async def check_departments(session: AsyncSession, codes: Iterable[str], field: str) -> list[str]:
    """Return the codes without repeats, or raise naming the first unknown department."""
    wanted = list(dict.fromkeys(codes))
    known = set((await session.execute(select(Department.code).where(Department.code.in_(wanted)))).scalars())
    for code in wanted:
        if code not in known:
            raise NotFound(f"unknown department '{code}'", field=field)
    return wanted


async def get(session: AsyncSession, taskforce_id: int) -> TaskForce:
    taskforce = await session.get(TaskForce, taskforce_id)
    if taskforce is None:
        raise NotFound(f"task force {taskforce_id} does not exist", field="taskforce_id")
    return taskforce


async def members(session: AsyncSession, taskforce_id: int) -> list[TaskForceMember]:
    query = select(TaskForceMember).where(TaskForceMember.taskforce_id == taskforce_id)
    return list((await session.execute(query.order_by(TaskForceMember.id))).scalars().all())


async def departments(session: AsyncSession, taskforce_id: int) -> set[str]:
    return {m.department for m in await members(session, taskforce_id)}


async def incident_ids(session: AsyncSession, taskforce_id: int) -> list[int]:
    query = select(TaskForceIncident.incident_id).where(TaskForceIncident.taskforce_id == taskforce_id)
    return list((await session.execute(query.order_by(TaskForceIncident.id))).scalars().all())


async def can_access(session: AsyncSession, principal: Principal, taskforce_id: int) -> bool:
    """May this user see the task force (its channel, tasks, messages)? The hub's ``taskforce:{id}`` rule."""
    if not has_permission(principal, Permission.taskforce_read):
        return False
    if await session.get(TaskForce, taskforce_id) is None:
        return False
    scope = department_scope(principal)
    return scope is None or bool(scope & await departments(session, taskforce_id))


async def get_visible(session: AsyncSession, principal: Principal, taskforce_id: int) -> TaskForce:
    require(principal, Permission.taskforce_read)
    taskforce = await get(session, taskforce_id)
    require_department(principal, await departments(session, taskforce_id), f"task force {taskforce_id}")
    return taskforce


async def get_open_for_manage(session: AsyncSession, principal: Principal, taskforce_id: int) -> TaskForce:
    require(principal, Permission.taskforce_manage)
    taskforce = await get_visible(session, principal, taskforce_id)
    if taskforce.closed_at is not None:
        raise Conflict(f"task force {taskforce_id} is closed")
    return taskforce


def require_participant(principal: Principal) -> None:
    """Writing in a task force (messages, tasks, handovers) takes ``task.work`` or ``taskforce.manage``."""
    if not (
        has_permission(principal, Permission.task_work)
        or has_permission(principal, Permission.taskforce_manage)
    ):
        raise Forbidden(f"role '{principal.role.value}' may not {Permission.task_work.value}")


async def view(session: AsyncSession, taskforce: TaskForce) -> dict[str, Any]:
    return {
        "id": taskforce.id,
        "name": taskforce.name,
        "purpose": taskforce.purpose,
        "lead_department": taskforce.lead_department,
        "drill": taskforce.drill,
        "members": [
            {"department": m.department, "role": m.role, "added_at": m.added_at}
            for m in await members(session, taskforce.id)
        ],
        "incident_ids": await incident_ids(session, taskforce.id),
        "created_at": taskforce.created_at,
        "closed_at": taskforce.closed_at,
    }


async def create(
    session: AsyncSession, *, principal: Principal, data: TaskForceCreate, drill: bool = False
) -> TaskForce:
    """Create a task force and tell the boards of every member department (liaisons see it live)."""
    require(principal, Permission.taskforce_manage)
    taskforce = await build(session, principal=principal, data=data, drill=drill)
    await audit.record(
        session,
        action="taskforce.create",
        actor=principal,
        target=channel(taskforce.id),
        detail={"departments": sorted(await departments(session, taskforce.id))},
    )
    emit(
        session,
        ["board", channel(taskforce.id)],
        departments=await departments(session, taskforce.id),
        type="taskforce.created",
        id=taskforce.id,
        drill=taskforce.drill,
        taskforce=await view(session, taskforce),
    )
    return taskforce


async def build(
    session: AsyncSession, *, principal: Principal, data: TaskForceCreate, drill: bool = False
) -> TaskForce:
    """Validate and insert a task force with its lead and members; no audit, no events (demo seed)."""
    lead = data.lead_department or LEAD_DEPARTMENT
    if lead != LEAD_DEPARTMENT:
        raise ValidationFailed(
            f"'1 + N': the section ('{LEAD_DEPARTMENT}') leads every task force, not '{lead}'",
            field="lead_department",
        )
    codes = await check_departments(session, [lead, *data.members], "members")
    now = utcnow()
    taskforce = TaskForce(
        name=data.name,
        purpose=data.purpose,
        lead_department=lead,
        drill=drill,
        created_at=now,
        created_by_id=principal.id,
    )
    session.add(taskforce)
    await session.flush()
    for code in codes:
        session.add(
            TaskForceMember(
                taskforce_id=taskforce.id,
                department=code,
                role="lead" if code == lead else "member",
                added_at=now,
                added_by_id=principal.id,
            )
        )
    await session.flush()
    return taskforce


async def list_visible(session: AsyncSession, *, principal: Principal) -> list[TaskForce]:
    require(principal, Permission.taskforce_read)
    query = select(TaskForce).order_by(TaskForce.id)
    scope = department_scope(principal)
    if scope is not None:
        mine = select(TaskForceMember.taskforce_id).where(TaskForceMember.department.in_(scope))
        query = query.where(TaskForce.id.in_(mine))
    return list((await session.execute(query)).scalars().all())


async def add_members(
    session: AsyncSession, *, principal: Principal, taskforce_id: int, codes: list[str]
) -> TaskForce:
    """Add departments; they also join every incident already linked to the task force."""
    taskforce = await get_open_for_manage(session, principal, taskforce_id)
    codes = await check_departments(session, codes, "departments")
    existing = await departments(session, taskforce_id)
    added = [c for c in codes if c not in existing]
    if not added:
        raise Conflict(f"every department given is already in task force {taskforce_id}", field="departments")
    now = utcnow()
    for code in added:
        session.add(
            TaskForceMember(
                taskforce_id=taskforce_id, department=code, added_at=now, added_by_id=principal.id
            )
        )
    for incident_id in await incident_ids(session, taskforce_id):
        await incidents.add_departments(session, await incidents.get(session, incident_id), added)
    await session.flush()
    await _members_changed(session, principal, taskforce, added=added, removed=[])
    return taskforce


async def remove_member(
    session: AsyncSession, *, principal: Principal, taskforce_id: int, code: str
) -> TaskForce:
    """Remove a member department; the lead stays. Linked incidents keep it (they never narrow).

    Not while it owns unfinished tasks here: it could no longer act on them, and their deadlines would
    still fall due and alarm its board and the command room about work no one can do. The lead department
    completes them (it may act on any task) or the department finishes them first.
    """
    taskforce = await get_open_for_manage(session, principal, taskforce_id)
    if code == taskforce.lead_department:
        raise Conflict(f"the lead department '{code}' cannot leave its task force", field="department")
    row = next((m for m in await members(session, taskforce_id) if m.department == code), None)
    if row is None:
        raise NotFound(
            f"department '{code}' is not a member of task force {taskforce_id}", field="department"
        )
    unfinished = select(Task.id, Task.title).where(
        Task.taskforce_id == taskforce_id,
        Task.owner_department == code,
        Task.status.in_(Task.UNFINISHED),
    )
    owned = [f"#{task_id} {title}" for task_id, title in await session.execute(unfinished.order_by(Task.id))]
    if owned:
        raise Conflict(
            f"department '{code}' still owns {len(owned)} unfinished task(s) in task force {taskforce_id}: "
            f"{'; '.join(owned)}. Complete them first (the lead department "
            f"'{taskforce.lead_department}' may)",
            field="department",
            params={"rule": "taskforce.member_owns_tasks", "department": code, "tasks": owned},
        )
    await session.delete(row)
    await session.flush()
    await _members_changed(session, principal, taskforce, added=[], removed=[code])
    return taskforce


async def _members_changed(
    session: AsyncSession,
    principal: Principal | None,
    taskforce: TaskForce,
    *,
    added: list[str],
    removed: list[str],
) -> None:
    detail = {"added": added, "removed": removed}
    await audit.record(
        session, action="taskforce.members", actor=principal, target=channel(taskforce.id), detail=detail
    )
    emit(
        session,
        channel(taskforce.id),
        type="taskforce.members_changed",
        id=taskforce.id,
        drill=taskforce.drill,
        taskforce=await view(session, taskforce),
        **detail,
    )


async def link_incident(
    session: AsyncSession, *, principal: Principal, taskforce_id: int, incident_id: int
) -> TaskForce:
    """Link an incident: every department of the task force takes part in it from now on."""
    taskforce = await get_open_for_manage(session, principal, taskforce_id)
    incident = await incidents.get_visible(session, principal, incident_id)
    if incident_id in await incident_ids(session, taskforce_id):
        raise Conflict(
            f"incident {incident_id} is already linked to task force {taskforce_id}", field="incident_id"
        )
    codes = sorted(await departments(session, taskforce_id))
    if incident.online_track and incidents.CYBERSPACE_DEPARTMENT not in codes:
        # Dual track (双轨): cyberspace runs the online track, so it joins the task force with the incident.
        session.add(
            TaskForceMember(
                taskforce_id=taskforce_id,
                department=incidents.CYBERSPACE_DEPARTMENT,
                added_at=utcnow(),
                added_by_id=principal.id,
            )
        )
        codes = sorted([*codes, incidents.CYBERSPACE_DEPARTMENT])
    await incidents.add_departments(session, incident, codes)
    session.add(
        TaskForceIncident(
            taskforce_id=taskforce_id, incident_id=incident_id, linked_at=utcnow(), linked_by_id=principal.id
        )
    )
    await session.flush()
    await incidents.record_event(
        session,
        incident,
        "taskforce.link",
        actor=principal,
        detail={"taskforce_id": taskforce_id, "departments": codes},
    )
    await audit.record(
        session,
        action="taskforce.link",
        actor=principal,
        target=channel(taskforce_id),
        detail={"incident_id": incident_id},
    )
    emit(
        session,
        [channel(taskforce_id), incidents.channel(incident_id)],
        type="taskforce.incident_linked",
        id=taskforce_id,
        drill=incident.drill,
        incident_id=incident_id,
        departments=incident.departments,
    )
    # The departments that join through the link must see the incident on their boards at once.
    incidents.announce(
        session, incident, "incident.departments_changed", incident=await incidents.view(session, incident)
    )
    return taskforce


async def taskforces_of_incident(session: AsyncSession, incident_id: int) -> list[int]:
    query = select(TaskForceIncident.taskforce_id).where(TaskForceIncident.incident_id == incident_id)
    return list((await session.execute(query.order_by(TaskForceIncident.taskforce_id))).scalars().all())


async def join_online_track(
    session: AsyncSession, *, principal: Principal | None, incident_id: int
) -> list[int]:
    """Dual track opened on an incident: cyberspace joins every task force the incident is linked to.

    Call it after the incident's online track opens (the incident itself already lists cyberspace);
    returns the task forces cyberspace joined.
    """
    joined: list[int] = []
    for taskforce_id in await taskforces_of_incident(session, incident_id):
        if incidents.CYBERSPACE_DEPARTMENT in await departments(session, taskforce_id):
            continue
        session.add(
            TaskForceMember(
                taskforce_id=taskforce_id,
                department=incidents.CYBERSPACE_DEPARTMENT,
                added_at=utcnow(),
                added_by_id=principal.id if principal else None,
            )
        )
        await session.flush()
        joined.append(taskforce_id)
        taskforce = await get(session, taskforce_id)
        await _members_changed(
            session, principal, taskforce, added=[incidents.CYBERSPACE_DEPARTMENT], removed=[]
        )
    return joined


async def close(session: AsyncSession, *, principal: Principal, taskforce_id: int, reason: str) -> TaskForce:
    """Close a task force: nothing more can be filed, posted or assigned in it; its members are told."""
    taskforce = await get_open_for_manage(session, principal, taskforce_id)
    taskforce.closed_at = utcnow()
    await audit.record(
        session,
        action="taskforce.close",
        actor=principal,
        target=channel(taskforce_id),
        detail={"reason": reason},
    )
    emit(
        session,
        ["board", channel(taskforce_id)],
        departments=await departments(session, taskforce_id),
        type="taskforce.closed",
        id=taskforce_id,
        drill=taskforce.drill,
        reason=reason,
        taskforce=await view(session, taskforce),
    )
    return taskforce
