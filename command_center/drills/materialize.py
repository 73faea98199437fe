"""Turn a released inject into real platform objects, all marked as drill (演练).

``incident`` injects open a drill incident (and a drill task force with the scenario's departments);
``task`` injects assign tasks to the departments named and orders to the roles named; ``order`` injects
issue orders; ``message``, ``call`` and ``opinion`` injects reach the named people on their own channels and
the incident's timeline; ``video`` injects publish a synthetic body-cam stream linked to the drill incident.
Everything is authored by the system actor drill control (演练导调), never by the organizer, whose name would
tell participants who is behind the drill; its own entries are never scored (only responders' actions are).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.auth import service as auth
from command_center.auth import system
from command_center.auth.models import Department, User
from command_center.auth.roles import Principal, Role
from command_center.db import utcnow
from command_center.drills import notices
from command_center.drills.models import Drill, DrillInject
from command_center.events import emit
from command_center.incidents import service as incidents
from command_center.incidents.schemas import IncidentCreate, Location
from command_center.orders import service as orders
from command_center.orders.schemas import OrderCreate
from command_center.settings import Settings
from command_center.taskforces import service as taskforces
from command_center.taskforces import tasks
from command_center.taskforces.schemas import TaskCreate, TaskForceCreate
from simulation import Inject, Scenario

ROLES = {r.value for r in Role}


async def control_principal(session: AsyncSession) -> Principal:
    """The drill control (演练导调): a real system actor, the same for CLI- and REST-scheduled drills."""
    return await system.drill_control(session)


async def recipients(session: AsyncSession, addressed: Iterable[str]) -> list[User]:
    """Active users an inject's ``to`` names: everyone of a role, the liaisons of a department."""
    wanted = list(addressed)
    roles = [r for r in wanted if r in ROLES and r != Role.system.value]
    departments = [d for d in wanted if d not in ROLES]
    query = select(User).join(Department).where(User.active.is_(True))
    users = (await session.execute(query)).scalars().all()
    return [u for u in users if u.role in roles or (u.department.code in departments and u.role == "liaison")]


async def _recipients(session: AsyncSession, inject: Inject) -> list[User]:
    return await recipients(session, inject.to)


async def _known_departments(session: AsyncSession, codes: list[str]) -> list[str]:
    known = {d.code for d in await auth.list_departments(session)}
    return [c for c in codes if c in known]


def _text(inject: Inject) -> str:
    return f"【演练 DRILL】{inject.content.zh_cn}\n{inject.content.en}"


async def first_created(session: AsyncSession, drill: Drill, kind: str) -> int | None:
    """The id of the first object of ``kind`` ("incident", "taskforce") this drill's injects created."""
    rows = (
        (await session.execute(select(DrillInject).where(DrillInject.drill_id == drill.id))).scalars().all()
    )
    for row in sorted(rows, key=lambda r: r.id):
        for ref in row.created:
            if ref.startswith(f"{kind}:"):
                return int(ref.split(":", 1)[1])
    return None


async def materialize(
    session: AsyncSession, *, drill: Drill, scenario: Scenario, inject: Inject, settings: Settings
) -> list[str]:
    """Create what the inject stands for; return references to what was created."""
    control = await control_principal(session)
    created: list[str] = []
    incident_id = await first_created(session, drill, "incident")
    if inject.kind == "incident":
        details = inject.incident
        data = IncidentCreate(
            title=f"【演练】{inject.content.zh_cn}"[:200],
            category=scenario.category,
            address=(details.address.zh_cn if details and details.address else "")[:300],
            location=Location(lat=details.location.lat, lon=details.location.lon)
            if details and details.location
            else None,
            headcount=details.headcount if details else None,
            demands=(details.demands.zh_cn if details and details.demands else "")[:4000],
            departments=await _known_departments(session, list(scenario.departments)),
        )
        incident, _ = await incidents.create(
            session,
            principal=control,
            data=data,
            settings=settings,
            drill_id=drill.id,
            time_scale=drill.time_scale,
        )
        created.append(f"incident:{incident.id}")
        if incident_id is None:
            incident_id = incident.id
            members = [d for d in incident.departments if d != "section"]
            # Named after what the participants already see (the incident), never after the scenario.
            taskforce = await taskforces.create(
                session,
                principal=control,
                data=TaskForceCreate(
                    name=f"【演练】联合处置专班 · {inject.content.zh_cn}"[:200],
                    purpose="演练 drill",
                    members=members,
                ),
                drill=True,
            )
            await taskforces.link_incident(
                session, principal=control, taskforce_id=taskforce.id, incident_id=incident.id
            )
            created.append(f"taskforce:{taskforce.id}")
        await notices.incident_opened(session, drill, incident.id, await _recipients(session, inject))
    elif inject.kind == "task":
        taskforce_id = await first_created(session, drill, "taskforce")
        member_departments = await taskforces.departments(session, taskforce_id) if taskforce_id else set()
        for department in [d for d in inject.to if d not in ROLES and d in member_departments]:
            assert taskforce_id is not None  # member_departments is empty without a task force
            task = await tasks.create(
                session,
                principal=control,
                taskforce_id=taskforce_id,
                data=TaskCreate(
                    title=inject.content.zh_cn[:200],
                    description=_text(inject),
                    owner_department=department,
                    due_at=utcnow() + timedelta(hours=1) / drill.time_scale,
                    incident_id=incident_id,
                ),
            )
            created.append(f"task:{task.id}")
        created += await _orders(session, control, inject, incident_id, roles_only=True)
    elif inject.kind == "order":
        created += await _orders(session, control, inject, incident_id, roles_only=False)
    elif inject.kind == "video":
        # The stream itself is published after this transaction commits (drills/video.py): media
        # negotiation must not hold the database.
        created += await _message(session, drill, inject, incident_id)
    else:
        created += await _message(session, drill, inject, incident_id)
    return created


async def _orders(
    session: AsyncSession, control: Principal, inject: Inject, incident_id: int | None, *, roles_only: bool
) -> list[str]:
    users = [u for u in await _recipients(session, inject) if not roles_only or u.role in inject.to]
    if not users:
        return []
    order = await orders.issue(
        session,
        principal=control,
        data=OrderCreate(
            text=_text(inject)[:2000], to="team", user_ids=[u.id for u in users], incident_id=incident_id
        ),
    )
    return [f"order:{order.id}"]


async def _message(session: AsyncSession, drill: Drill, inject: Inject, incident_id: int | None) -> list[str]:
    payload: dict[str, Any] = {
        "kind": inject.kind,
        "content": {"zh-CN": inject.content.zh_cn, "en": inject.content.en},
        "incident_id": incident_id,
        "drill_id": drill.id,
    }
    users = await _recipients(session, inject)
    for user in users:
        emit(session, f"user:{user.id}", type="drill.inject", id=drill.id, drill=True, **payload)
    if incident_id is not None:
        incident = await incidents.get(session, incident_id)
        await incidents.record_event(
            session,
            incident,
            f"drill.{inject.kind}",
            actor=None,
            detail={"content": payload["content"], "to": list(inject.to)},
        )
        emit(
            session,
            "board",
            departments=incident.departments,
            type="drill.inject",
            id=drill.id,
            drill=True,
            **payload,
        )
    taskforce_id = await first_created(session, drill, "taskforce")
    if taskforce_id is not None:
        emit(
            session, taskforces.channel(taskforce_id), type="drill.inject", id=drill.id, drill=True, **payload
        )
    return [f"user:{u.id}" for u in users]
