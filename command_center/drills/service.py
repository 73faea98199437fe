"""Drills in the live system: schedule double-blind, show each role only what it may see, stop, read logs.

Visibility (DESIGN.md section 8): before the start nobody, not even the organizer, sees the drawn time or
scenario: the organizer sees the window and the pool, everyone else the commitment only. At the start the
plan is revealed to organizers and evaluators; participants see it only after the drill ended, when they
can check it against the commitment they were shown.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth import service as auth
from command_center.auth.permissions import Permission, has_permission, require
from command_center.auth.roles import Principal, Role
from command_center.db import utcnow
from command_center.drills import ending, planning
from command_center.drills import scenarios as scenario_store
from command_center.drills.models import Drill, DrillInject
from command_center.drills.schemas import DrillSchedule
from command_center.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed
from command_center.events import emit
from command_center.incidents.models import Incident, IncidentEvent
from simulation import InjectReleased, ObservedAction, Scenario

ACTIVE = ("scheduled", "running")
FIELDS_OF: dict[str, Callable[[dict[str, Any]], list[str]]] = {
    # Which "fields" an action carries for scoring (scenario `required_fields`).
    "report.written": lambda d: d.get("fields", []),
    "zones.record": lambda d: list((d.get("zones") or {}).keys()),
    "team.assemble": lambda d: [m.get("role") for m in d.get("members", []) if m.get("role")],
}


def _no_fields(_detail: dict[str, Any]) -> list[str]:
    return []


def channel(drill_id: int) -> str:
    return f"drill:{drill_id}"


async def get(session: AsyncSession, drill_id: int) -> Drill:
    drill = await session.get(Drill, drill_id)
    if drill is None:
        raise NotFound(f"drill {drill_id} does not exist", field="drill_id")
    return drill


def _check_blind(data: DrillSchedule, *, now: datetime, min_window: timedelta) -> None:
    """The rules that keep the draw blind (DESIGN.md section 8): a long enough window, a real pool."""
    if not data.scenarios:
        raise ValidationFailed("the scenario pool is empty; name at least two scenarios", field="scenarios")
    if data.window_end <= data.window_start:
        raise ValidationFailed("window_end must be after window_start", field="window_end")
    if data.window_end <= now:
        raise ValidationFailed("the window has already passed", field="window_end")
    if data.window_end - max(data.window_start, now) < min_window:
        minutes = min_window.total_seconds() / 60
        raise ValidationFailed(
            f"the window must last at least {minutes:g} minutes from now (CC_DRILL_MIN_WINDOW_MINUTES), "
            "or the start time is no surprise",
            field="window_end",
            params={"rule": "drill.window_min", "minutes": minutes},
        )
    pool = set(data.scenarios)
    if len(pool) < 2 and not data.single_scenario:
        raise ValidationFailed(
            "a double-blind pool needs at least 2 scenarios; to run one scenario knowingly, "
            "set single_scenario: true (it is recorded)",
            field="scenarios",
            params={"rule": "drill.pool_min_two"},
        )
    if len(pool) > 1 and data.single_scenario:
        raise ValidationFailed(
            "single_scenario is for a pool of exactly one scenario",
            field="single_scenario",
            params={"rule": "drill.single_scenario_one"},
        )


async def schedule(
    session: AsyncSession,
    *,
    principal: Principal | None,
    data: DrillSchedule,
    now: datetime | None = None,
    min_window: timedelta = timedelta(minutes=60),
) -> Drill:
    """Draw and seal a plan; refuse a pool or window too small to be blind, unknown scenarios, overlaps.

    ``min_window`` is ``CC_DRILL_MIN_WINDOW_MINUTES``; the default is the setting's default.
    """
    if principal is not None:
        require(principal, Permission.drill_manage)
    now = now or utcnow()
    _check_blind(data, now=now, min_window=min_window)
    await scenario_store.sync_shipped(session)
    pool = []
    for key in dict.fromkeys(data.scenarios):
        row = await scenario_store.get(session, key)
        pool.append((row.key, row.sha256))
    overlapping = (
        (
            await session.execute(
                select(Drill.id).where(
                    Drill.status.in_(ACTIVE),
                    Drill.window_start < data.window_end,
                    Drill.window_end > data.window_start,
                )
            )
        )
        .scalars()
        .first()
    )
    if overlapping is not None:
        raise Conflict(
            f"the window overlaps drill {overlapping}, which is still scheduled or running",
            field="window_start",
        )
    plan = planning.draw(
        window_start=max(data.window_start, now),
        window_end=data.window_end,
        pool=pool,
        time_scale=data.time_scale,
    )
    sealed = plan.canonical()
    drill = Drill(
        status="scheduled",
        commitment=planning.commitment(sealed),
        sealed_plan=sealed,
        window_start=data.window_start,
        window_end=data.window_end,
        pool=[k for k, _ in pool],
        time_scale=data.time_scale,
        organizer_id=principal.id if principal else None,
        start_at=plan.start,
    )
    session.add(drill)
    await session.flush()
    await audit.record(
        session,
        action="drill.schedule",
        actor=principal,
        target=channel(drill.id),
        detail={"commitment": drill.commitment, "pool": drill.pool, "single_scenario": data.single_scenario},
    )
    emit(session, "board", type="drill.scheduled", id=drill.id, drill=True, commitment=drill.commitment)
    return drill


def plan_of(drill: Drill) -> planning.SealedPlan:
    return planning.SealedPlan.from_json(drill.sealed_plan)


async def scenario_of(session: AsyncSession, drill: Drill) -> Scenario:
    plan = plan_of(drill)
    row = await scenario_store.get(session, plan.scenario_key)
    if row.sha256 != plan.scenario_sha256:
        raise Conflict(f"scenario '{row.key}' changed after drill {drill.id} was scheduled")
    return scenario_store.parse(row.yaml_text, f"{row.key}.yaml")


async def incident_ids(session: AsyncSession, drill_id: int) -> list[int]:
    query = select(Incident.id).where(Incident.drill_id == drill_id).order_by(Incident.id)
    return list((await session.execute(query)).scalars().all())


async def view(session: AsyncSession, principal: Principal, drill: Drill) -> dict[str, Any]:
    result: dict[str, Any] = {"id": drill.id, "commitment": drill.commitment, "status": drill.status}
    organizer = has_permission(principal, Permission.drill_manage)
    observer = has_permission(principal, Permission.drill_read)
    revealed = drill.started_at is not None
    over = drill.status in ("finished", "stopped", "cancelled")
    if organizer:
        result.update(
            window_start=drill.window_start,
            window_end=drill.window_end,
            pool=drill.pool,
            time_scale=drill.time_scale,
        )
    if (revealed and (organizer or observer)) or (over and revealed):
        plan = plan_of(drill)
        row = await scenario_store.get_optional(session, plan.scenario_key)
        result.update(
            plan={
                **plan.__dict__,
                "commitment_verified": planning.commitment(drill.sealed_plan) == drill.commitment,
            },
            scenario_key=plan.scenario_key,
            started_at=drill.started_at,
            finished_at=drill.finished_at,
            stop_reason=drill.stop_reason or None,
            scenario_title={"zh-CN": row.title_zh, "en": row.title_en} if row else None,
            incidents=await incident_ids(session, drill.id),
        )
        if organizer or observer:
            result["score"] = drill.score
    elif over:
        result.update(finished_at=drill.finished_at, stop_reason=drill.stop_reason or None)
    return result


async def list_drills(session: AsyncSession, principal: Principal) -> list[Drill]:
    return list((await session.execute(select(Drill).order_by(Drill.id.desc()).limit(200))).scalars().all())


async def stop(session: AsyncSession, *, principal: Principal, drill_id: int, reason: str) -> Drill:
    """A real-world stop: end the drill at once for everyone; what it created closes; everyone is told.

    Commanders may stop a running drill (a real emergency comes first), but cancelling a scheduled one is
    the organizer's alone: a participant who could cancel could also probe for, and dodge, a blind drill.
    """
    if not (
        has_permission(principal, Permission.drill_manage)
        or has_permission(principal, Permission.incident_command)
    ):
        require(principal, Permission.drill_manage)
    drill = await get(session, drill_id)
    if drill.status == "scheduled" and not has_permission(principal, Permission.drill_manage):
        raise Forbidden(
            f"only a drill organizer may cancel drill {drill_id}; participants cannot cancel drills"
        )
    if drill.status not in ACTIVE:
        raise Conflict(f"drill {drill_id} is already {drill.status}")
    now = utcnow()
    drill.status = "stopped" if drill.status == "running" else "cancelled"
    drill.stop_reason = reason
    drill.finished_at = now
    scenario = await scenario_of(session, drill) if drill.started_at is not None else None
    await ending.end(session, drill, scenario, reason=reason)
    await audit.record(
        session,
        action="drill.stop",
        actor=principal,
        target=channel(drill_id),
        detail={"reason": reason, "status": drill.status},
    )
    emit(
        session,
        ["board", channel(drill_id)],
        departments=await every_department(session),
        type="drill.stopped",
        id=drill_id,
        drill=True,
        reason=reason,
        status=drill.status,
        at=now,
    )
    return drill


async def every_department(session: AsyncSession) -> list[str]:
    """A drill's start and end are told on every board: everyone must know a drill stopped."""
    return [d.code for d in await auth.list_departments(session)]


def observed(event: IncidentEvent) -> ObservedAction:
    fields = FIELDS_OF.get(event.action, _no_fields)(event.detail or {})
    return ObservedAction(
        action=event.action,
        at=event.at,
        actor=event.actor_name,
        fields=frozenset(f for f in fields if f),
        department=event.actor_department or None,
        incident=f"incident:{event.incident_id}",
        role=event.actor_role or None,
    )


async def actions_since(session: AsyncSession, drill_id: int, after_event_id: int = 0) -> list[IncidentEvent]:
    query = (
        select(IncidentEvent)
        .join(Incident, Incident.id == IncidentEvent.incident_id)
        .where(
            Incident.drill_id == drill_id,
            IncidentEvent.id > after_event_id,
            IncidentEvent.actor_id.is_not(None),
            IncidentEvent.actor_role != Role.system.value,  # drill control's own entries are never scored
        )
        .order_by(IncidentEvent.id)
    )
    return list((await session.execute(query)).scalars().all())


async def released(session: AsyncSession, drill_id: int) -> list[DrillInject]:
    query = (
        select(DrillInject).where(DrillInject.drill_id == drill_id).order_by(DrillInject.at, DrillInject.id)
    )
    return list((await session.execute(query)).scalars().all())


async def event_log(
    session: AsyncSession, drill_id: int
) -> tuple[Scenario, list[InjectReleased], list[ObservedAction]]:
    """The drill's whole log: what the engine released and what the responders did, with their times."""
    drill = await get(session, drill_id)
    if drill.started_at is None:
        raise BadRequest(f"drill {drill_id} has not started")
    scenario = await scenario_of(session, drill)
    injects = [InjectReleased(r.inject_id, r.at) for r in await released(session, drill_id)]
    actions = [
        observed(e) for e in await actions_since(session, drill_id) if not e.action.startswith("incident.")
    ]
    return scenario, injects, actions
