"""``GET /api/ptt/{talkgroup}``: who holds a talkgroup's floor now, for a page that opens mid-spurt.

Requests and releases go over the hub (DESIGN.md section 9); this only reads. Outsiders get 404, as for
the incident or task force itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from command_center.auth.deps import CurrentUser, SessionDep
from command_center.errors import NotFound
from command_center.ptt import floor
from command_center.ptt.talkgroups import NotAMember

router = APIRouter(prefix="/api/ptt", tags=["ptt"])

Talkgroup = Annotated[
    str, Path(min_length=3, max_length=64, pattern=r"^(incident|taskforce|stream):[0-9a-zA-Z]+$")
]


class Speaker(BaseModel):
    id: int | None
    name: str
    role: str


class FloorRead(BaseModel):
    talkgroup: str
    drill: bool
    speaker: Speaker | None
    stream_id: str | None
    granted_at: datetime | None = None


@router.get("/{talkgroup}", response_model=FloorRead)
async def floor_state(talkgroup: Talkgroup, principal: CurrentUser, session: SessionDep) -> FloorRead:
    try:
        state = await floor.state(session, principal, talkgroup)
    except NotAMember as exc:
        raise NotFound(str(exc), field="talkgroup") from exc
    return FloorRead.model_validate(state)
