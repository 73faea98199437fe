"""What responders do on an incident: reports, stage changes, zones, the soft working group, closing.

Each function checks who may act, changes the incident, writes its timeline (the drill engine scores these
actions by their wall-clock time), audits what matters and queues hub events, in the caller's transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth.permissions import Permission, require
from command_center.auth.roles import Principal
from command_center.db import utcnow
from command_center.deadlines import service as deadlines
from command_center.errors import Conflict, Forbidden, ValidationFailed
from command_center.events import emit
from command_center.incidents.models import Incident, IncidentEvent
from command_center.incidents.rules import (
    REQUIRED_TEAM_ROLES,
    STAGES,
    WRITTEN_REPORT_FIELDS,
    given,
    stage_index,
)
from command_center.incidents.schemas import ReportCreate, StageChange, TeamAssemble, ZonesRecord
from command_center.incidents.service import (
    CYBERSPACE_DEPARTMENT,
    announce,
    channel,
    event_view,
    get_for_action,
    record_event,
    subject,
    view,
)
from command_center.settings import Settings


async def add_report(
    session: AsyncSession, *, principal: Principal, incident_id: int, data: ReportCreate
) -> tuple[Incident, IncidentEvent]:
    """File the phone or written report; a written report meets its deadline only when complete."""
    incident = await get_for_action(session, principal, incident_id)
    now = utcnow()
    if data.headcount is not None:
        incident.headcount = data.headcount
    if given(data.demands):
        incident.demands = data.demands
    if given(data.dynamics):
        incident.dynamics = data.dynamics
    detail: dict[str, Any] = {"note": data.note}
    if data.kind == "phone":
        met = await deadlines.complete(session, subject=subject(incident.id), kind="phone_report", at=now)
        detail["on_time"] = all(d.done_at and d.done_at <= d.due_at for d in met) if met else None
        action = "report.phone"
    else:
        present = [f for f in WRITTEN_REPORT_FIELDS if given(getattr(data, f))]
        missing = [f for f in WRITTEN_REPORT_FIELDS if f not in present]
        detail.update(
            fields=present,
            missing=missing,
            complete=not missing,
            headcount=data.headcount,
            demands=data.demands,
            dynamics=data.dynamics,
        )
        # Several reports add up (初报 + 续报, DESIGN.md section 7): the deadline is met once the reports so
        # far carry every core fact between them, the same rule the drill score applies.
        reported = await _written_fields(session, incident.id) | set(present)
        detail["reported"] = [f for f in WRITTEN_REPORT_FIELDS if f in reported]
        if reported >= set(WRITTEN_REPORT_FIELDS):
            await deadlines.complete(session, subject=subject(incident.id), kind="written_report", at=now)
        action = "report.written"
    event = await record_event(session, incident, action, actor=principal, detail=detail, at=now)
    announce(
        session,
        incident,
        "incident.report_filed",
        incident=await view(session, incident, now),
        report=event_view(event),
    )
    return incident, event


async def _written_fields(session: AsyncSession, incident_id: int) -> set[str]:
    """The core facts the incident's earlier written reports carried, counted across all of them."""
    query = select(IncidentEvent.detail).where(
        IncidentEvent.incident_id == incident_id, IncidentEvent.action == "report.written"
    )
    return {
        f for detail in (await session.execute(query)).scalars() for f in (detail or {}).get("fields", [])
    }


async def advance_stage(
    session: AsyncSession, *, principal: Principal, incident_id: int, data: StageChange, settings: Settings
) -> Incident:
    """Move forward through the five stages; skipping one needs a recorded reason, going back is refused.

    Stages belong to the command room (``CC_STAGE_ROLES``: commander and duty officer by default); field
    officers and liaisons record what they did, and the command room decides what that means for the stage.
    """
    incident = await get_for_action(session, principal, incident_id)
    if principal.role.value not in settings.stage_roles:
        raise Forbidden(
            f"role '{principal.role.value}' may not change an incident's stage; the command room "
            f"({', '.join(settings.stage_roles)}) does (rule: stage_roles, CC_STAGE_ROLES)",
            field="stage",
        )
    current, target = stage_index(incident.stage), stage_index(data.stage)
    if target <= current:
        raise Conflict(
            f"incident {incident_id} is at stage '{incident.stage}'; it can only move forward "
            f"(next: '{STAGES[current + 1].value}')"
            if current + 1 < len(STAGES)
            else f"incident {incident_id} is already at the last stage '{incident.stage}'",
            field="stage",
            params={"rule": "stage.forward_only", "stage": incident.stage, "target": data.stage.value},
        )
    skipped = [s.value for s in STAGES[current + 1 : target]]
    if skipped and not data.reason.strip():
        raise ValidationFailed(
            f"moving from '{incident.stage}' to '{data.stage.value}' skips {', '.join(skipped)}; "
            "give a reason",
            field="reason",
            params={
                "rule": "stage.skip_needs_reason",
                "from": incident.stage,
                "to": data.stage.value,
                "skipped": skipped,
            },
        )
    now = utcnow()
    previous = incident.stage
    incident.stage = data.stage.value
    await record_event(
        session,
        incident,
        f"stage.{data.stage.value}",
        actor=principal,
        at=now,
        detail={"from": previous, "to": incident.stage, "skipped": skipped, "reason": data.reason},
    )
    await audit.record(
        session,
        action="incident.stage",
        actor=principal,
        target=subject(incident.id),
        detail={"from": previous, "to": incident.stage, "skipped": skipped},
    )
    announce(
        session,
        incident,
        "incident.stage_changed",
        incident=await view(session, incident, now),
        previous=previous,
    )
    return incident


async def record_zones(
    session: AsyncSession, *, principal: Principal, incident_id: int, data: ZonesRecord
) -> Incident:
    """Record the cordon, buffer and dialogue zones with their positions and teams (on-site control)."""
    incident = await get_for_action(session, principal, incident_id)
    kinds = [z.kind.value for z in data.zones]
    if len(set(kinds)) != len(kinds):
        raise ValidationFailed(
            "each zone kind may appear once", field="zones", params={"rule": "zones.kind_once"}
        )
    incident.zones = {**incident.zones, **{z.kind.value: z.model_dump(mode="json") for z in data.zones}}
    missing = [k for k in ("cordon", "buffer", "dialogue") if k not in incident.zones]
    await record_event(
        session,
        incident,
        "zones.record",
        actor=principal,
        detail={"kinds": kinds, "missing": missing, "zones": incident.zones},
    )
    announce(session, incident, "incident.zones_recorded", zones=incident.zones, missing=missing)
    return incident


async def assemble_team(
    session: AsyncSession, *, principal: Principal, incident_id: int, data: TeamAssemble
) -> Incident:
    """Record the soft working group; complete only with a counsellor and a legal adviser."""
    incident = await get_for_action(session, principal, incident_id)
    incident.team = [m.model_dump(mode="json") for m in data.members]
    roles = {m.role for m in data.members}
    missing = sorted(r.value for r in REQUIRED_TEAM_ROLES - roles)
    await record_event(
        session,
        incident,
        "team.assemble",
        actor=principal,
        detail={"members": incident.team, "complete": not missing, "missing": missing},
    )
    emit(
        session,
        channel(incident.id),
        type="incident.team_assembled",
        id=incident.id,
        drill=incident.drill,
        team=incident.team,
        missing=missing,
    )
    return incident


async def note_action(
    session: AsyncSession,
    *,
    principal: Principal,
    incident_id: int,
    action: str,
    note: str,
    detail: dict[str, Any] | None = None,
) -> IncidentEvent:
    """Record an action without further state of its own: demands answered, follow-up arranged."""
    incident = await get_for_action(session, principal, incident_id)
    event = await record_event(
        session, incident, action, actor=principal, detail={"note": note, **(detail or {})}
    )
    announce(session, incident, f"incident.{action.replace('.', '_')}", event=event_view(event))
    return event


async def open_online_track(
    session: AsyncSession, *, principal: Principal, incident_id: int, note: str
) -> Incident:
    """Dual track (双轨): cyberspace joins for online monitoring and authoritative information."""
    incident = await get_for_action(session, principal, incident_id)
    if incident.online_track:
        raise Conflict(
            f"incident {incident_id} already has an online track",
            params={"rule": "incident.online_track_open"},
        )
    incident.online_track = True
    if CYBERSPACE_DEPARTMENT not in incident.departments:
        incident.departments = [*incident.departments, CYBERSPACE_DEPARTMENT]
    await record_event(session, incident, "online_track.open", actor=principal, detail={"note": note})
    await audit.record(session, action="incident.online_track", actor=principal, target=subject(incident.id))
    announce(session, incident, "incident.online_track", incident=await view(session, incident))
    return incident


async def close(session: AsyncSession, *, principal: Principal, incident_id: int, note: str) -> Incident:
    require(principal, Permission.incident_command)
    incident = await get_for_action(session, principal, incident_id)
    now = utcnow()
    incident.closed_at = now
    await deadlines.cancel(session, subject=subject(incident.id), at=now)
    await record_event(session, incident, "incident.close", actor=principal, at=now, detail={"note": note})
    await audit.record(session, action="incident.close", actor=principal, target=subject(incident.id))
    announce(session, incident, "incident.closed", incident=await view(session, incident, now))
    return incident
