"""Audit API: read the log and check its chain (organizers, commanders, admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from command_center.audit import anchor, service
from command_center.audit.visibility import AuditVisibility
from command_center.auth.deps import SessionDep, SettingsDep, requires
from command_center.auth.permissions import Permission, department_scope
from command_center.auth.roles import Principal
from command_center.errors import Forbidden
from command_center.limits import IdQuery

router = APIRouter(prefix="/api/audit", tags=["audit"])


class AuditEntryRead(BaseModel):
    seq: int
    at: str
    actor_id: int | None
    actor_name: str
    action: str
    target: str
    outcome: str
    detail: str
    hash: str


class ChainRead(BaseModel):
    ok: bool
    entries: int
    first_broken_seq: int | None
    reason: str
    legacy: int = 0
    checkpoints: int = 0


@router.get("", response_model=list[AuditEntryRead])
async def list_entries(
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, requires(Permission.audit_read)],
    action: Annotated[str | None, Query(max_length=64)] = None,
    before: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditEntryRead]:
    """The newest entries the caller may read: only those about things it may read (no drill secrets)."""
    visibility: AuditVisibility = request.app.state.audit_visibility
    rows = await visibility.list_entries(session, principal, action=action, before_seq=before, limit=limit)
    return [
        AuditEntryRead(
            seq=r.seq,
            at=r.at.isoformat(),
            actor_id=r.actor_id,
            actor_name=r.actor_name,
            action=r.action,
            target=r.target,
            outcome=r.outcome,
            detail=r.detail,
            hash=r.hash,
        )
        for r in rows
    ]


@router.get("/verify", response_model=ChainRead)
async def verify_chain(
    session: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, requires(Permission.audit_read)],
) -> ChainRead:
    """Check the whole chain and the checkpoints; only for roles that read every entry."""
    if department_scope(principal) is not None:
        raise Forbidden("checking the whole audit log is for roles that may read all of it")
    report = await service.verify(session, checkpoints=await anchor.read_all(settings))
    return ChainRead(
        ok=report.ok,
        entries=report.entries,
        first_broken_seq=report.first_broken_seq,
        reason=report.reason,
        legacy=report.legacy,
        checkpoints=report.checkpoints,
    )
