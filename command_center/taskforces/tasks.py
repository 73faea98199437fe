"""Tasks of a task force: an owner department, a stored deadline, acknowledgement, completion, overdue flag.

Tasks linked to an incident write ``task.acknowledge`` and ``task.complete`` on its timeline, the actions
drill scoring reads (DESIGN.md section 6).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth.permissions import Permission, department_scope, require
from command_center.auth.roles import Principal
from command_center.db import utcnow
from command_center.deadlines import service as deadlines
from command_center.deadlines.models import Deadline
from command_center.errors import Conflict, Forbidden, NotFound, ValidationFailed
from command_center.events import emit
from command_center.incidents import service as incidents
from command_center.incidents.models import Incident
from command_center.taskforces import service as taskforces
from command_center.taskforces.models import Task, TaskForce
from command_center.taskforces.schemas import TaskCreate


def subject(task_id: int) -> str:
    return f"task:{task_id}"


def view(task: Task, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    return {
        "id": task.id,
        "taskforce_id": task.taskforce_id,
        "incident_id": task.incident_id,
        "title": task.title,
        "description": task.description,
        "owner_department": task.owner_department,
        "status": task.status,
        "drill": task.drill,
        "due_at": task.due_at,
        "overdue": task.overdue_at is not None
        or (task.status not in ("done", "cancelled") and now > task.due_at),
        "overdue_at": task.overdue_at,
        "created_at": task.created_at,
        "acknowledged_at": task.acknowledged_at,
        "acknowledged_by": task.acknowledged_by,
        "completed_at": task.completed_at,
        "completed_by": task.completed_by,
        "completion_note": task.completion_note,
    }


async def _drill(session: AsyncSession, task: Task) -> bool:
    taskforce = await session.get(TaskForce, task.taskforce_id)
    if taskforce is not None and taskforce.drill:
        return True
    if task.incident_id is None:
        return False
    incident = await session.get(Incident, task.incident_id)
    return bool(incident and incident.drill)


async def create(
    session: AsyncSession,
    *,
    principal: Principal,
    taskforce_id: int,
    data: TaskCreate,
    now: datetime | None = None,
) -> Task:
    """Assign a task to a member department with a future deadline, swept as ``task:{id}``."""
    taskforce = await taskforces.get_open_for_manage(session, principal, taskforce_id)
    now = now or utcnow()
    task = await build(session, principal=principal, taskforce=taskforce, data=data, now=now)
    await audit.record(
        session,
        action="task.create",
        actor=principal,
        target=subject(task.id),
        detail={"taskforce_id": taskforce.id, "owner_department": task.owner_department},
    )
    emit(
        session,
        taskforces.channel(taskforce.id),
        type="task.created",
        id=task.id,
        drill=task.drill,
        task=view(task, now),
    )
    return task


async def build(
    session: AsyncSession, *, principal: Principal, taskforce: TaskForce, data: TaskCreate, now: datetime
) -> Task:
    """Validate and insert a task with its deadline; no audit, no events (the demo seed uses this)."""
    taskforce_id = taskforce.id
    await taskforces.check_departments(session, [data.owner_department], "owner_department")
    if data.owner_department not in await taskforces.departments(session, taskforce_id):
        raise ValidationFailed(
            f"department '{data.owner_department}' is not a member of task force {taskforce_id}",
            field="owner_department",
        )
    if data.due_at <= now:
        raise ValidationFailed("due_at is in the past; give a future deadline", field="due_at")
    if data.incident_id is not None and data.incident_id not in await taskforces.incident_ids(
        session, taskforce_id
    ):
        raise ValidationFailed(
            f"incident {data.incident_id} is not linked to task force {taskforce_id}", field="incident_id"
        )
    task = Task(
        taskforce_id=taskforce.id,
        incident_id=data.incident_id,
        title=data.title,
        description=data.description,
        owner_department=data.owner_department,
        status="open",
        due_at=data.due_at,
        created_at=now,
        created_by_id=principal.id,
    )
    session.add(task)
    await session.flush()
    drill = task.drill = await _drill(session, task)
    await deadlines.schedule(
        session,
        subject=subject(task.id),
        kind="task",
        starts_at=now,
        due_at=task.due_at,
        warn_before=min(timedelta(hours=1), (task.due_at - now) / 4),
        channels=[taskforces.channel(taskforce.id)],
        label=f"任务 task: {task.title}"[:200],
        drill=drill,
        responsible={"department": task.owner_department},
    )
    if task.incident_id is not None:
        incident = await incidents.get(session, task.incident_id)
        await incidents.record_event(
            session,
            incident,
            "task.assign",
            actor=principal,
            at=now,
            detail={"task_id": task.id, "owner_department": task.owner_department, "title": task.title},
        )
    return task


async def get(session: AsyncSession, task_id: int, *, for_update: bool = False) -> Task:
    """The task; ``for_update`` locks its row until commit (PostgreSQL; SQLite writers queue anyway)."""
    task = await session.get(Task, task_id, with_for_update=True if for_update else None)
    if task is None:
        raise NotFound(f"task {task_id} does not exist", field="task_id")
    return task


async def get_visible(
    session: AsyncSession, principal: Principal, task_id: int, *, for_update: bool = False
) -> tuple[Task, TaskForce]:
    task = await get(session, task_id, for_update=for_update)
    return task, await taskforces.get_visible(session, principal, task.taskforce_id)


async def _for_owner(session: AsyncSession, principal: Principal, task_id: int) -> tuple[Task, TaskForce]:
    """The owner department's people, or the lead department's (the section steps in), act on a task."""
    require(principal, Permission.task_work)
    # Locked: a double tap, or the liaison and the section at once, decide on the state the other left.
    task, taskforce = await get_visible(session, principal, task_id, for_update=True)
    if principal.department not in {task.owner_department, taskforce.lead_department}:
        raise Forbidden(
            f"department '{principal.department}' does not own task {task_id} "
            f"(owner: '{task.owner_department}')"
        )
    return task, taskforce


async def _on_incident(
    session: AsyncSession, task: Task, action: str, principal: Principal, at: datetime
) -> None:
    if task.incident_id is None:
        return
    incident = await incidents.get(session, task.incident_id)
    await incidents.record_event(
        session,
        incident,
        action,
        actor=principal,
        at=at,
        detail={"task_id": task.id, "taskforce_id": task.taskforce_id, "note": task.completion_note},
    )


async def acknowledge(session: AsyncSession, *, principal: Principal, task_id: int) -> Task:
    task, taskforce = await _for_owner(session, principal, task_id)
    if task.status != "open":
        raise Conflict(f"task {task_id} is already {task.status}", field="status")
    now = utcnow()
    task.status = "acknowledged"
    task.acknowledged_at = now
    task.acknowledged_by = principal.name
    await _on_incident(session, task, "task.acknowledge", principal, now)
    await audit.record(session, action="task.acknowledge", actor=principal, target=subject(task.id))
    emit(
        session,
        taskforces.channel(taskforce.id),
        type="task.acknowledged",
        id=task.id,
        drill=task.drill,
        task=view(task, now),
    )
    return task


async def complete(session: AsyncSession, *, principal: Principal, task_id: int, note: str) -> Task:
    task, taskforce = await _for_owner(session, principal, task_id)
    if task.status == "open":
        raise Conflict(
            f"task {task_id} must be acknowledged before it is completed",
            field="status",
            params={"rule": "task.acknowledge_first"},
        )
    if task.status in ("done", "cancelled"):
        raise Conflict(f"task {task_id} is already {task.status}", field="status")
    now = utcnow()
    task.status = "done"
    task.completed_at = now
    task.completed_by = principal.name
    task.completion_note = note
    await deadlines.complete(session, subject=subject(task.id), kind="task", at=now)
    await _on_incident(session, task, "task.complete", principal, now)
    await audit.record(session, action="task.complete", actor=principal, target=subject(task.id))
    emit(
        session,
        taskforces.channel(taskforce.id),
        type="task.completed",
        id=task.id,
        drill=task.drill,
        task=view(task, now),
    )
    return task


async def list_for(
    session: AsyncSession, *, principal: Principal, taskforce_id: int, department: str | None = None
) -> list[Task]:
    await taskforces.get_visible(session, principal, taskforce_id)
    query = select(Task).where(Task.taskforce_id == taskforce_id).order_by(Task.id)
    if department is not None:
        query = query.where(Task.owner_department == department)
    return list((await session.execute(query)).scalars().all())


async def list_mine(session: AsyncSession, *, principal: Principal) -> list[Task]:
    """Open tasks of the caller's department (a liaison's to-do list); for unscoped users, every open task."""
    require(principal, Permission.task_work)
    query = select(Task).where(Task.status.not_in(("done", "cancelled"))).order_by(Task.due_at)
    if department_scope(principal) is not None:
        query = query.where(Task.owner_department == principal.department)
    return list((await session.execute(query)).scalars().all())


async def on_deadline_missed(session: AsyncSession, deadline: Deadline, now: datetime) -> None:
    """A task's deadline passed unfinished: flag it overdue in its task force and on the board."""
    task = await session.get(Task, int(deadline.subject.split(":", 1)[1]))
    if task is None or task.status in ("done", "cancelled"):
        return
    task.overdue_at = now
    await audit.record(
        session,
        action="task.overdue",
        target=subject(task.id),
        detail={"owner_department": task.owner_department},
    )
    emit(
        session,
        [taskforces.channel(task.taskforce_id), "board"],
        departments=[task.owner_department],
        type="task.overdue",
        id=task.id,
        drill=deadline.drill,
        task=view(task, now),
    )
