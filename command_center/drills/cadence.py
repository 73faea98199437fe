"""The drill plan's cadence (DOMAIN.md, drills): one double-blind drill a quarter, the 2026 special drills.

Per quarter of the office's calendar (Asia/Shanghai by default): was the required drill held, is one
scheduled, and should the organizer be warned (``CC_DRILL_CADENCE_WARNING_DAYS`` before the quarter ends
without either). For the year: which of its special drills are still to run. :func:`plan` is pure (drills
in, plan out, ``now`` given) so it is tested without a clock; :func:`load` reads what it needs.

A drill counts as held once it has started and was not stopped for a real emergency (``running`` or
``finished``); a ``scheduled`` drill whose window closes inside the quarter counts as planned.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.drills import scenarios
from command_center.drills.models import Drill, DrillScenario

HELD = ("running", "finished")

#: The special drills of each year's plan (DOMAIN.md: the three planned for 2026), by scenario id.
SPECIAL_DRILLS: dict[int, tuple[str, ...]] = {
    2026: (
        "special-skip-level-capital-2026",  # 模拟进京越级访
        "special-gate-blocking-2026",  # 突发集体堵门事件
        "special-extreme-behaviour-2026",  # 极端行为现场处置
    ),
}


@dataclass(frozen=True, slots=True)
class DrillFacts:
    """What the cadence needs of one drill (organizers already see all of it)."""

    id: int
    status: str
    started_at: datetime | None
    window_end: datetime
    scenario_key: str | None


def quarter_bounds(year: int, quarter: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a quarter in the office's time zone, as aware datetimes."""
    start = datetime(year, 3 * quarter - 2, 1, tzinfo=zone)
    next_year, next_month = (year + 1, 1) if quarter == 4 else (year, 3 * quarter + 1)
    end = datetime(next_year, next_month, 1, tzinfo=zone)
    return start, end


def _quarter(
    year: int, number: int, drills: Sequence[DrillFacts], now: datetime, zone: ZoneInfo, warn: timedelta
) -> dict[str, Any]:
    start, end = quarter_bounds(year, number, zone)
    held = [d.id for d in drills if d.status in HELD and d.started_at and start <= d.started_at < end]
    scheduled = [d.id for d in drills if d.status == "scheduled" and start <= d.window_end < end]
    if held:
        state = "held"
    elif now >= end:
        state = "missed"
    elif scheduled:
        state = "scheduled"
    elif now < start:
        state = "upcoming"
    else:
        state = "due"
    return {
        "quarter": number,
        "label": f"{year}Q{number}",
        "starts_at": start,
        "ends_at": end,
        "state": state,
        "held": bool(held),
        "held_drill_ids": held,
        "scheduled_drill_ids": scheduled,
        # A month ahead (by default): the quarter ends soon and no drill was held or scheduled in it.
        "warning": state == "due" and end - now <= warn,
        "days_left": max(0, (end - now).days) if now < end else 0,
    }


def plan(
    year: int,
    drills: Iterable[DrillFacts],
    *,
    now: datetime,
    zone: ZoneInfo,
    warning_days: int,
    titles: Mapping[str, tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The year's cadence as the drill console shows it, as of ``now``."""
    rows = list(drills)
    warn = timedelta(days=warning_days)
    quarters = [_quarter(year, q, rows, now, zone, warn) for q in range(1, 5)]
    year_start, year_end = quarter_bounds(year, 1, zone)[0], quarter_bounds(year, 4, zone)[1]
    ran = {
        d.scenario_key: d.id
        for d in rows
        if d.status in HELD and d.started_at and year_start <= d.started_at < year_end and d.scenario_key
    }
    names = dict(titles or {})
    special = [
        {
            "scenario_key": key,
            "title_zh": names.get(key, (key, key))[0],
            "title_en": names.get(key, (key, key))[1],
            "held": key in ran,
            "drill_id": ran.get(key),
        }
        for key in SPECIAL_DRILLS.get(year, ())
    ]
    remaining = [s for s in special if not s["held"]]
    quarters_left = sum(1 for q in quarters if q["ends_at"] > now and q["state"] != "held")
    # Warn when the special drills still to run no longer fit one a quarter, or the year ends within the
    # warning period with any left.
    special_warning = bool(remaining) and (
        len(remaining) > quarters_left or (year_end > now and year_end - now <= warn) or now >= year_end
    )
    return {
        "year": year,
        "as_of": now,
        "warning_days": warning_days,
        "quarters": quarters,
        "special": special,
        "special_remaining": len(remaining),
        "special_warning": special_warning,
    }


async def load(session: AsyncSession, year: int, zone: ZoneInfo) -> tuple[list[DrillFacts], dict[str, Any]]:
    """The drills that touch ``year`` (started in it, or scheduled to close in it) and the scenario titles."""
    start, end = quarter_bounds(year, 1, zone)[0], quarter_bounds(year, 4, zone)[1]
    query = select(Drill).where(
        or_(
            Drill.started_at.between(start, end),
            Drill.window_end.between(start, end),
        )
    )
    facts = [
        DrillFacts(d.id, d.status, d.started_at, d.window_end, d.scenario_key)
        for d in (await session.execute(query.order_by(Drill.id))).scalars().all()
    ]
    return facts, await _titles(session, SPECIAL_DRILLS.get(year, ()))


async def _titles(session: AsyncSession, keys: Sequence[str]) -> dict[str, Any]:
    """Both titles of the special drills' scenarios; shipped ones are stored first if they are not yet."""
    if not keys:
        return {}
    query = select(DrillScenario.key, DrillScenario.title_zh, DrillScenario.title_en).where(
        DrillScenario.key.in_(keys)
    )
    titles = {key: (zh, en) for key, zh, en in (await session.execute(query)).all()}
    if len(titles) < len(keys):
        await scenarios.sync_shipped(session)
        titles = {key: (zh, en) for key, zh, en in (await session.execute(query)).all()}
    return titles
