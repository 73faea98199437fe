"""Ledger API: a thin router; every rule lives in :mod:`command_center.ledger.service`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import AwareDatetime

from command_center.auth.deps import CurrentUser, SessionDep, SettingsDep
from command_center.incidents import service as incidents
from command_center.incidents.schemas import IncidentRead
from command_center.ledger import service
from command_center.ledger.rules import Colour, Domain, Status
from command_center.ledger.schemas import (
    Escalation,
    HistoryRead,
    LedgerItemCreate,
    LedgerItemRead,
    LedgerStats,
    Resolution,
    WarningChange,
)
from command_center.limits import IdPath

router = APIRouter(prefix="/api/ledger", tags=["ledger"])


@router.post("", response_model=LedgerItemRead, status_code=status.HTTP_201_CREATED)
async def create_item(body: LedgerItemCreate, principal: CurrentUser, session: SessionDep) -> dict[str, Any]:
    return service.view(await service.create(session, principal=principal, data=body))


@router.get("", response_model=list[LedgerItemRead])
async def list_items(
    principal: CurrentUser,
    session: SessionDep,
    status: Status | None = None,
    colour: Colour | None = None,
    domain: Domain | None = None,
    department: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[dict[str, Any]]:
    rows = await service.list_items(
        session,
        principal=principal,
        status=status,
        colour=colour,
        domain=domain,
        department=department,
        limit=limit,
    )
    return [service.view(i) for i in rows]


@router.get("/stats", response_model=LedgerStats)
async def ledger_stats(
    principal: CurrentUser,
    session: SessionDep,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
) -> dict[str, Any]:
    """Counts for the quarterly risk analysis report (pass the quarter as ``since`` / ``until``)."""
    return await service.stats(session, principal=principal, since=since, until=until)


@router.get("/{item_id}", response_model=LedgerItemRead)
async def get_item(item_id: IdPath, principal: CurrentUser, session: SessionDep) -> dict[str, Any]:
    return service.view(await service.get_readable(session, principal, item_id))


@router.post("/{item_id}/warning", response_model=LedgerItemRead)
async def set_warning(
    item_id: IdPath, body: WarningChange, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    return service.view(await service.set_warning(session, principal=principal, item_id=item_id, data=body))


@router.post("/{item_id}/resolve", response_model=LedgerItemRead)
async def resolve_item(
    item_id: IdPath, body: Resolution, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    return service.view(await service.resolve(session, principal=principal, item_id=item_id, note=body.note))


@router.post("/{item_id}/escalate", response_model=IncidentRead, status_code=status.HTTP_201_CREATED)
async def escalate_item(
    item_id: IdPath, body: Escalation, principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    _, incident = await service.escalate(
        session, principal=principal, item_id=item_id, data=body, settings=settings
    )
    return await incidents.view(session, incident)


@router.get("/{item_id}/history", response_model=list[HistoryRead])
async def item_history(item_id: IdPath, principal: CurrentUser, session: SessionDep) -> list[dict[str, Any]]:
    return [
        service.history_view(h) for h in await service.history(session, principal=principal, item_id=item_id)
    ]
