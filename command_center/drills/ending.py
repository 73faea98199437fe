"""End a drill in the live system: close or cancel everything it created, and tell everyone taking part.

One path for a drill that finished and for one stopped (a real-world stop included), so nothing of a drill
stays actionable: its incidents close through the normal incident close (timeline and audit row, report
deadlines cancelled, not met), its open tasks and unacknowledged orders are cancelled, its task forces close
(no matter can be filed into them any more), its streams end. Every step is idempotent, so the API's stop
and the runner's finish may both run it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.deadlines import service as deadlines
from command_center.drills import notices
from command_center.drills.materialize import control_principal, recipients
from command_center.drills.models import Drill, DrillInject
from command_center.events import emit
from command_center.incidents import actions as incident_actions
from command_center.incidents.models import Incident
from command_center.orders import service as orders
from command_center.orders.models import Order
from command_center.streams.models import StreamRecord
from command_center.streams.service import announce
from command_center.taskforces import service as taskforces
from command_center.taskforces import tasks as tasks_service
from command_center.taskforces.models import Task, TaskForce
from simulation import Scenario

NOTE = {"finished": "演练结束 drill finished", "stopped": "演练中止 drill stopped"}


def created_refs(rows: list[DrillInject], kind: str) -> list[int]:
    """Ids of the objects of ``kind`` ("order", "taskforce", ...) the drill's injects created."""
    return [int(ref.split(":", 1)[1]) for row in rows for ref in row.created if ref.startswith(f"{kind}:")]


async def end(session: AsyncSession, drill: Drill, scenario: Scenario | None, *, reason: str) -> None:
    """Close what the drill created and tell its participants; ``drill.status`` is already final."""
    control = await control_principal(session)
    note = NOTE.get(drill.status, f"演练结束 drill {drill.status}")
    rows = list(
        (await session.execute(select(DrillInject).where(DrillInject.drill_id == drill.id))).scalars().all()
    )
    incident_ids = list(
        (await session.execute(select(Incident.id).where(Incident.drill_id == drill.id))).scalars().all()
    )
    taskforce_ids = created_refs(rows, "taskforce")
    now = drill.finished_at

    open_tasks = (
        await session.execute(
            select(Task).where(
                or_(Task.taskforce_id.in_(taskforce_ids), Task.incident_id.in_(incident_ids)),
                Task.status.in_(Task.UNFINISHED),
            )
        )
    ).scalars()
    for task in open_tasks:
        await _cancel_task(session, task, note, now)

    order_query = select(Order).where(
        Order.cancelled_at.is_(None),
        or_(Order.id.in_(created_refs(rows, "order")), Order.incident_id.in_(incident_ids)),
    )
    for order in (await session.execute(order_query)).scalars().all():
        await orders.cancel(session, principal=control, order_id=order.id, reason=note)

    open_forces = select(TaskForce.id).where(TaskForce.id.in_(taskforce_ids), TaskForce.closed_at.is_(None))
    for taskforce_id in (await session.execute(open_forces)).scalars().all():
        await taskforces.close(session, principal=control, taskforce_id=taskforce_id, reason=note)

    open_incidents = select(Incident.id).where(Incident.drill_id == drill.id, Incident.closed_at.is_(None))
    for incident_id in (await session.execute(open_incidents)).scalars().all():
        await incident_actions.close(session, principal=control, incident_id=incident_id, note=note)

    await end_streams(session, incident_ids, at=now)
    if scenario is not None:
        users = await recipients(session, notices.addressed(scenario))
        notices.ended(session, drill, users, reason=reason)


async def _cancel_task(session: AsyncSession, task: Task, note: str, at: datetime | None) -> None:
    task.status = "cancelled"
    task.completion_note = note
    await deadlines.cancel(session, subject=tasks_service.subject(task.id), at=at or task.created_at)
    await audit.record(
        session, action="task.cancel", target=tasks_service.subject(task.id), detail={"note": note}
    )
    emit(
        session,
        ["board", taskforces.channel(task.taskforce_id)],
        departments=[task.owner_department],
        type="task.cancelled",
        id=task.id,
        drill=task.drill,
        task=tasks_service.view(task),
    )


async def end_streams(session: AsyncSession, incident_ids: list[int], *, at: datetime | None) -> list[str]:
    """Mark the drill's live streams ended in the registry (the relay's side: drills/video.py)."""
    if not incident_ids:
        return []
    query = select(StreamRecord).where(
        StreamRecord.drill.is_(True),
        StreamRecord.incident_id.in_(incident_ids),
        StreamRecord.ended_at.is_(None),
    )
    ended = []
    for row in (await session.execute(query)).scalars().all():
        row.ended_at = at
        row.connected = False
        ended.append(row.id)
        await announce(session, row, "stream.ended")
    return ended
