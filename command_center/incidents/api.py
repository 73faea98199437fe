"""Incidents API: a thin router; every rule lives in :mod:`command_center.incidents.service`."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status

from command_center.auth.deps import CurrentUser, SessionDep, SettingsDep
from command_center.incidents import actions, export, service
from command_center.incidents.schemas import (
    ActionNote,
    EventRead,
    IncidentCreate,
    IncidentRead,
    IncidentStats,
    ReportCreate,
    StageChange,
    TeamAssemble,
    ZonesRecord,
)
from command_center.limits import IdPath
from command_center.names import export_names
from command_center.taskforces import service as taskforces

router = APIRouter(prefix="/api/incidents", tags=["incidents"])


@router.post("", response_model=IncidentRead, status_code=status.HTTP_201_CREATED)
async def create_incident(
    body: IncidentCreate, principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    _, created = await service.create(session, principal=principal, data=body, settings=settings)
    return created


@router.get("", response_model=list[IncidentRead])
async def list_incidents(
    principal: CurrentUser,
    session: SessionDep,
    include_closed: bool = False,
    drill: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[dict[str, Any]]:
    rows = await service.list_visible(
        session, principal=principal, include_closed=include_closed, drill=drill, limit=limit
    )
    return [await service.view(session, i) for i in rows]


@router.get("/stats", response_model=IncidentStats)
async def incident_stats(principal: CurrentUser, session: SessionDep) -> dict[str, Any]:
    service.require_statistics(principal)
    return await service.stats(session)


@router.get("/{incident_id}", response_model=IncidentRead)
async def get_incident(incident_id: IdPath, principal: CurrentUser, session: SessionDep) -> dict[str, Any]:
    return await service.view(session, await service.get_visible(session, principal, incident_id))


@router.post("/{incident_id}/stage", response_model=IncidentRead)
async def advance_stage(
    incident_id: IdPath, body: StageChange, principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    incident = await actions.advance_stage(
        session, principal=principal, incident_id=incident_id, data=body, settings=settings
    )
    return await service.view(session, incident)


@router.post("/{incident_id}/reports", response_model=EventRead, status_code=status.HTTP_201_CREATED)
async def add_report(
    incident_id: IdPath, body: ReportCreate, principal: CurrentUser, session: SessionDep
) -> Any:
    _, event = await actions.add_report(session, principal=principal, incident_id=incident_id, data=body)
    return service.event_view(event)


@router.post("/{incident_id}/zones", response_model=IncidentRead)
async def record_zones(
    incident_id: IdPath, body: ZonesRecord, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    incident = await actions.record_zones(session, principal=principal, incident_id=incident_id, data=body)
    return await service.view(session, incident)


@router.post("/{incident_id}/team", response_model=IncidentRead)
async def assemble_team(
    incident_id: IdPath, body: TeamAssemble, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    incident = await actions.assemble_team(session, principal=principal, incident_id=incident_id, data=body)
    return await service.view(session, incident)


@router.post("/{incident_id}/demands/answer", response_model=EventRead, status_code=status.HTTP_201_CREATED)
async def answer_demands(
    incident_id: IdPath, body: ActionNote, principal: CurrentUser, session: SessionDep
) -> Any:
    event = await actions.note_action(
        session, principal=principal, incident_id=incident_id, action="demands.answer", note=body.note
    )
    return service.event_view(event)


@router.post("/{incident_id}/followups", response_model=EventRead, status_code=status.HTTP_201_CREATED)
async def arrange_followup(
    incident_id: IdPath, body: ActionNote, principal: CurrentUser, session: SessionDep
) -> Any:
    detail = {"due_at": body.due_at.astimezone(UTC).isoformat()} if body.due_at else {}
    event = await actions.note_action(
        session,
        principal=principal,
        incident_id=incident_id,
        action="followup.arrange",
        note=body.note,
        detail=detail,
    )
    return service.event_view(event)


@router.post("/{incident_id}/online-track", response_model=IncidentRead)
async def open_online_track(
    incident_id: IdPath, body: ActionNote, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    """Dual track: cyberspace joins the incident and every task force it is linked to."""
    incident = await actions.open_online_track(
        session, principal=principal, incident_id=incident_id, note=body.note
    )
    await taskforces.join_online_track(session, principal=principal, incident_id=incident_id)
    return await service.view(session, incident)


@router.post("/{incident_id}/close", response_model=IncidentRead)
async def close_incident(
    incident_id: IdPath, body: ActionNote, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    incident = await actions.close(session, principal=principal, incident_id=incident_id, note=body.note)
    return await service.view(session, incident)


@router.get("/{incident_id}/timeline", response_model=list[EventRead])
async def get_timeline(incident_id: IdPath, principal: CurrentUser, session: SessionDep) -> list[Any]:
    return [
        service.event_view(e)
        for e in await service.timeline(session, principal=principal, incident_id=incident_id)
    ]


@router.get("/{incident_id}/timeline.csv", response_class=Response)
async def timeline_csv(
    incident_id: IdPath, principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> Response:
    incident = await service.get_visible(session, principal, incident_id)
    events = await service.timeline(session, principal=principal, incident_id=incident_id)
    return Response(
        await asyncio.to_thread(export.timeline_csv, incident, events, settings.zone),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="incident-{incident_id}-timeline.csv"'},
    )


@router.get("/{incident_id}/timeline.docx", response_class=Response)
async def timeline_docx(
    incident_id: IdPath,
    principal: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    lang: Literal["zh-CN", "en"] = "zh-CN",
) -> Response:
    """The timeline as an A4 Word document, Chinese unless ``lang=en``; built off the event loop."""
    incident = await service.get_visible(session, principal, incident_id)
    events = await service.timeline(session, principal=principal, incident_id=incident_id)
    order_ids = [e.detail["order_id"] for e in events if isinstance((e.detail or {}).get("order_id"), int)]
    names = await export_names(session, order_ids)
    # Building and zipping a document takes CPU: off the event loop, like every export.
    body = await asyncio.to_thread(export.timeline_docx, incident, events, settings.zone, names, lang)
    return Response(
        body,
        media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        headers={"Content-Disposition": f'attachment; filename="incident-{incident_id}-timeline.docx"'},
    )
