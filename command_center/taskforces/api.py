"""Task force, task and matter APIs: thin routers; the rules live in the service modules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, status

from command_center.auth.deps import CurrentUser, SessionDep
from command_center.limits import IdPath, IdQuery
from command_center.taskforces import matters, messages, service, tasks
from command_center.taskforces.schemas import (
    HandoverAnswer,
    HandoverRequest,
    IncidentLink,
    MatterCreate,
    MatterRead,
    MembersChange,
    MessageCreate,
    MessageRead,
    TaskCompletion,
    TaskCreate,
    TaskForceCreate,
    TaskForceRead,
    TaskRead,
)

router = APIRouter(prefix="/api/taskforces", tags=["task forces"])
tasks_router = APIRouter(prefix="/api/tasks", tags=["task forces"])
matters_router = APIRouter(prefix="/api/matters", tags=["task forces"])


@router.post("", response_model=TaskForceRead, status_code=status.HTTP_201_CREATED)
async def create_taskforce(body: TaskForceCreate, principal: CurrentUser, session: SessionDep) -> Any:
    return await service.view(session, await service.create(session, principal=principal, data=body))


@router.get("", response_model=list[TaskForceRead])
async def list_taskforces(principal: CurrentUser, session: SessionDep) -> list[Any]:
    return [await service.view(session, t) for t in await service.list_visible(session, principal=principal)]


@router.get("/{taskforce_id}", response_model=TaskForceRead)
async def get_taskforce(taskforce_id: IdPath, principal: CurrentUser, session: SessionDep) -> Any:
    return await service.view(session, await service.get_visible(session, principal, taskforce_id))


@router.post("/{taskforce_id}/members", response_model=TaskForceRead)
async def add_members(
    taskforce_id: IdPath, body: MembersChange, principal: CurrentUser, session: SessionDep
) -> Any:
    taskforce = await service.add_members(
        session, principal=principal, taskforce_id=taskforce_id, codes=body.departments
    )
    return await service.view(session, taskforce)


@router.delete("/{taskforce_id}/members/{department}", response_model=TaskForceRead)
async def remove_member(
    taskforce_id: IdPath,
    department: Annotated[str, Path(min_length=1, max_length=64)],
    principal: CurrentUser,
    session: SessionDep,
) -> Any:
    taskforce = await service.remove_member(
        session, principal=principal, taskforce_id=taskforce_id, code=department
    )
    return await service.view(session, taskforce)


@router.post("/{taskforce_id}/incidents", response_model=TaskForceRead)
async def link_incident(
    taskforce_id: IdPath, body: IncidentLink, principal: CurrentUser, session: SessionDep
) -> Any:
    taskforce = await service.link_incident(
        session, principal=principal, taskforce_id=taskforce_id, incident_id=body.incident_id
    )
    return await service.view(session, taskforce)


@router.post("/{taskforce_id}/messages", response_model=MessageRead, status_code=status.HTTP_201_CREATED)
async def post_message(
    taskforce_id: IdPath, body: MessageCreate, principal: CurrentUser, session: SessionDep
) -> Any:
    message = await messages.post(session, principal=principal, taskforce_id=taskforce_id, body=body.text)
    return messages.view(message)


@router.get("/{taskforce_id}/messages", response_model=list[MessageRead])
async def list_messages(
    taskforce_id: IdPath,
    principal: CurrentUser,
    session: SessionDep,
    before_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[Any]:
    rows = await messages.list_for(
        session, principal=principal, taskforce_id=taskforce_id, before_id=before_id, limit=limit
    )
    return [messages.view(m) for m in rows]


@router.post("/{taskforce_id}/tasks", response_model=TaskRead, status_code=status.HTTP_201_CREATED)
async def create_task(
    taskforce_id: IdPath, body: TaskCreate, principal: CurrentUser, session: SessionDep
) -> Any:
    return tasks.view(await tasks.create(session, principal=principal, taskforce_id=taskforce_id, data=body))


@router.get("/{taskforce_id}/tasks", response_model=list[TaskRead])
async def list_tasks(
    taskforce_id: IdPath,
    principal: CurrentUser,
    session: SessionDep,
    department: Annotated[str | None, Query(max_length=64)] = None,
) -> list[Any]:
    rows = await tasks.list_for(
        session, principal=principal, taskforce_id=taskforce_id, department=department
    )
    return [tasks.view(t) for t in rows]


@tasks_router.get("", response_model=list[TaskRead])
async def my_tasks(principal: CurrentUser, session: SessionDep) -> list[Any]:
    return [tasks.view(t) for t in await tasks.list_mine(session, principal=principal)]


@tasks_router.get("/{task_id}", response_model=TaskRead)
async def get_task(task_id: IdPath, principal: CurrentUser, session: SessionDep) -> Any:
    task, _ = await tasks.get_visible(session, principal, task_id)
    return tasks.view(task)


@tasks_router.post("/{task_id}/acknowledge", response_model=TaskRead)
async def acknowledge_task(task_id: IdPath, principal: CurrentUser, session: SessionDep) -> Any:
    return tasks.view(await tasks.acknowledge(session, principal=principal, task_id=task_id))


@tasks_router.post("/{task_id}/complete", response_model=TaskRead)
async def complete_task(
    task_id: IdPath, body: TaskCompletion, principal: CurrentUser, session: SessionDep
) -> Any:
    return tasks.view(await tasks.complete(session, principal=principal, task_id=task_id, note=body.note))


@matters_router.post("", response_model=MatterRead, status_code=status.HTTP_201_CREATED)
async def create_matter(body: MatterCreate, principal: CurrentUser, session: SessionDep) -> Any:
    return await matters.view(session, await matters.create(session, principal=principal, data=body))


@matters_router.get("", response_model=list[MatterRead])
async def list_matters(principal: CurrentUser, session: SessionDep) -> list[Any]:
    return [await matters.view(session, m) for m in await matters.list_visible(session, principal=principal)]


@matters_router.get("/{matter_id}", response_model=MatterRead)
async def get_matter(matter_id: IdPath, principal: CurrentUser, session: SessionDep) -> Any:
    return await matters.view(session, await matters.get_visible(session, principal, matter_id))


@matters_router.post("/{matter_id}/handover", response_model=MatterRead)
async def request_handover(
    matter_id: IdPath, body: HandoverRequest, principal: CurrentUser, session: SessionDep
) -> Any:
    matter = await matters.request_handover(session, principal=principal, matter_id=matter_id, data=body)
    return await matters.view(session, matter)


@matters_router.post("/{matter_id}/accept", response_model=MatterRead)
async def accept_handover(matter_id: IdPath, principal: CurrentUser, session: SessionDep) -> Any:
    return await matters.view(
        session, await matters.accept_handover(session, principal=principal, matter_id=matter_id)
    )


@matters_router.post("/{matter_id}/refuse", response_model=MatterRead)
async def refuse_handover(
    matter_id: IdPath, body: HandoverAnswer, principal: CurrentUser, session: SessionDep
) -> Any:
    matter = await matters.refuse_handover(
        session, principal=principal, matter_id=matter_id, reason=body.reason
    )
    return await matters.view(session, matter)
