"""The drill plan on the drill console: the quarterly cadence, the year's special drills, review meetings.

``GET /api/drill-plan?year=2026[&at=ISO]``: organizers and evaluators (``drill.read``) only, because whether
this quarter's drill has been held tells a participant one is coming. ``at`` asks "as of" another moment
(default now), so reports and tests do not depend on the wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.auth.deps import SessionDep, SettingsDep, requires
from command_center.auth.permissions import Permission
from command_center.auth.roles import Principal
from command_center.db import utcnow
from command_center.drills import cadence
from command_center.reviews.models import Review

router = APIRouter(prefix="/api/drill-plan", tags=["drills"])


async def review_meetings(session: AsyncSession, now: datetime) -> list[dict[str, Any]]:
    """Reviews whose meeting is not held yet: due, or overdue and escalated by the deadline sweep."""
    query = select(Review).where(Review.meeting_held_at.is_(None)).order_by(Review.meeting_due_at).limit(50)
    return [
        {
            "review_id": r.id,
            "drill_id": r.drill_id,
            "scenario_title_zh": r.scenario_title_zh,
            "scenario_title_en": r.scenario_title_en,
            "meeting_due_at": r.meeting_due_at,
            "overdue": now > r.meeting_due_at,
            "escalated_at": r.meeting_overdue_at,
        }
        for r in (await session.execute(query)).scalars().all()
    ]


@router.get("")
async def drill_plan(
    session: SessionDep,
    settings: SettingsDep,
    _: Annotated[Principal, requires(Permission.drill_read)],
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    at: AwareDatetime | None = None,
) -> dict[str, Any]:
    now = at.astimezone(UTC) if at is not None else utcnow()
    zone = settings.zone
    chosen = year if year is not None else now.astimezone(zone).year
    drills, titles = await cadence.load(session, chosen, zone)
    result = cadence.plan(
        chosen, drills, now=now, zone=zone, warning_days=settings.drill_cadence_warning_days, titles=titles
    )
    # Quarter bounds are in the office's zone for the people reading them; the API speaks UTC.
    for quarter in result["quarters"]:
        quarter["starts_at"] = quarter["starts_at"].astimezone(UTC)
        quarter["ends_at"] = quarter["ends_at"].astimezone(UTC)
    result["reviews"] = await review_meetings(session, now)
    return result
