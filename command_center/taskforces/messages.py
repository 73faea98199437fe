"""A task force's channel: daily information exchange, stored as the source of truth and sent live."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.auth.roles import Principal
from command_center.db import utcnow
from command_center.errors import Conflict
from command_center.events import emit
from command_center.taskforces.models import TaskForceMessage
from command_center.taskforces.service import channel, get_visible, require_participant


def view(message: TaskForceMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "taskforce_id": message.taskforce_id,
        "at": message.at,
        "author_name": message.author_name,
        "author_department": message.author_department,
        "text": message.body,
        "drill": message.drill,
    }


async def post(
    session: AsyncSession, *, principal: Principal, taskforce_id: int, body: str
) -> TaskForceMessage:
    taskforce = await get_visible(session, principal, taskforce_id)
    require_participant(principal)
    if taskforce.closed_at is not None:
        raise Conflict(f"task force {taskforce_id} is closed", field="taskforce_id")
    message = TaskForceMessage(
        taskforce_id=taskforce_id,
        at=utcnow(),
        author_id=principal.id,
        author_name=principal.name,
        author_department=principal.department,
        body=body,
        drill=taskforce.drill,
    )
    session.add(message)
    await session.flush()
    emit(
        session,
        channel(taskforce_id),
        type="taskforce.message",
        id=message.id,
        drill=taskforce.drill,
        message=view(message),
    )
    return message


async def list_for(
    session: AsyncSession,
    *,
    principal: Principal,
    taskforce_id: int,
    before_id: int | None = None,
    limit: int = 100,
) -> list[TaskForceMessage]:
    """The newest ``limit`` messages (before ``before_id`` when paging back), oldest first."""
    await get_visible(session, principal, taskforce_id)
    query = select(TaskForceMessage).where(TaskForceMessage.taskforce_id == taskforce_id)
    if before_id is not None:
        query = query.where(TaskForceMessage.id < before_id)
    rows = (await session.execute(query.order_by(TaskForceMessage.id.desc()).limit(limit))).scalars().all()
    return list(reversed(rows))
