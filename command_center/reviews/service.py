"""Drill reviews: open one when a drill ends, record overrides, findings and the meeting, compare drills.

The automatic result (DESIGN.md section 7) is stored as scored and never changed; an evaluator's override
sits beside it with a written justification, and the overall score stays the rubric's. Everything happens
in the caller's transaction: the review, its meeting deadline, its drafted items, the audit entry and the
hub events commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import simulation
from command_center.audit import service as audit
from command_center.auth.models import User
from command_center.auth.permissions import Permission, require
from command_center.auth.roles import Principal, Role
from command_center.db import utcnow
from command_center.deadlines import service as deadlines
from command_center.deadlines.models import Deadline
from command_center.drills.models import Drill
from command_center.errors import Conflict, NotFound, ValidationFailed
from command_center.events import emit
from command_center.reviews import items
from command_center.reviews.models import RectificationItem, Review, ReviewCheck
from command_center.reviews.rules import (
    DEFAULT_DEPARTMENT,
    MEETING_DUE,
    MEETING_WARN,
    NEEDS_RECTIFICATION,
    RECTIFICATION_DUE,
)
from command_center.reviews.schemas import FindingCreate, MeetingRecord, OverrideCreate

MEETING = "meeting"


def subject(review_id: int) -> str:
    return f"review:{review_id}"


def _check_title(check: ReviewCheck) -> str:
    return check.title_zh if check.title_zh == check.title_en else f"{check.title_zh} / {check.title_en}"


async def by_drill(session: AsyncSession, drill_id: int) -> Review | None:
    return (await session.execute(select(Review).where(Review.drill_id == drill_id))).scalar_one_or_none()


async def _answerable(session: AsyncSession, drill: Drill) -> list[int]:
    """Who answers for a drill's review meeting: its organizer and the section's leaders (commanders)."""
    query = select(User.id).where(User.role == Role.commander.value, User.active.is_(True)).order_by(User.id)
    leaders = list((await session.execute(query)).scalars().all())
    organizer = [drill.organizer_id] if drill.organizer_id else []
    return list(dict.fromkeys([*organizer, *leaders]))


async def open_for_drill(
    session: AsyncSession,
    *,
    drill: Drill,
    scenario: simulation.Scenario,
    score: simulation.DrillScore,
    finished_at: datetime,
) -> Review:
    """Open the drill's review: store the automatic result, start the 3-day meeting clock, draft items.

    Idempotent: a second call for the same drill returns the review the first one opened. One item is
    drafted per check rated M or U, owned by the check's department (else the section), with no leader yet
    and a deadline 30 days after the drill (:data:`RECTIFICATION_DUE`); the meeting sets the real ones.
    """
    existing = await by_drill(session, drill.id)
    if existing is not None:
        return existing
    review = Review(
        drill_id=drill.id,
        scenario_key=scenario.id,
        scenario_title_zh=scenario.title.zh_cn[:200],
        scenario_title_en=scenario.title.en[:200],
        rubric_version=score.rubric_version,
        finished_at=finished_at,
        overall=score.overall,
        rating=score.rating,
        capped=score.capped,
        meeting_due_at=finished_at + MEETING_DUE,
        meeting_minutes="",
        created_at=utcnow(),
    )
    try:
        async with session.begin_nested():  # another process may have opened it a moment ago
            session.add(review)
            await session.flush()
    except IntegrityError:
        existing = await by_drill(session, drill.id)
        if existing is None:
            raise
        return existing
    checks: list[ReviewCheck] = []
    for position, result in enumerate(score.checks):
        try:
            check: simulation.Check | None = scenario.check(result.check_id)
        except KeyError:
            check = None
        title = check.title if check is not None else None
        row = ReviewCheck(
            review_id=review.id,
            position=position,
            check_id=result.check_id,
            title_zh=(title.zh_cn if title else result.check_id)[:300],
            title_en=(title.en if title else result.check_id)[:300],
            stage=check.stage if check is not None else "",
            department=check.department if check is not None else None,
            status=result.status,
            elapsed=result.elapsed,
            score=result.score,
            rating=result.rating,
            fields_missing=list(result.fields_missing),
            weight=result.weight,
            critical=result.critical,
            override_justification="",
            override_by_name="",
        )
        session.add(row)
        checks.append(row)
    await session.flush()
    escalated = await _answerable(session, drill)
    await deadlines.schedule(
        session,
        subject=subject(review.id),
        kind=MEETING,
        starts_at=finished_at,
        due_at=review.meeting_due_at,
        warn_before=MEETING_WARN,
        # The sweep publishes on "board" itself; the drill's channel and, like any deadline, the people who
        # answer for it: the organizer and the section's leaders (commanders) on their own channels.
        channels=[items.drill_channel(drill.id), *(f"user:{u}" for u in escalated)],
        label="演练复盘会议 drill review meeting",
        drill=True,
        responsible={"department": DEFAULT_DEPARTMENT, "user_ids": escalated},
    )
    for row in checks:
        if row.rating in NEEDS_RECTIFICATION:
            await items.draft(
                session,
                review=review,
                source="check",
                check_id=row.check_id,
                title=_check_title(row),
                department=row.department or DEFAULT_DEPARTMENT,
                deadline=finished_at + RECTIFICATION_DUE,
                now=finished_at,
            )
    await audit.record(
        session,
        action="review.open",
        target=subject(review.id),
        detail={"drill_id": drill.id, "overall": review.overall, "rating": review.rating},
    )
    emit(
        session,
        items.drill_channel(drill.id),
        type="review.opened",
        id=review.id,
        drill=True,
        drill_id=drill.id,
        overall=review.overall,
        rating=review.rating,
        capped=review.capped,
        meeting_due_at=review.meeting_due_at,
    )
    return review


async def get(session: AsyncSession, review_id: int) -> Review:
    review = await session.get(Review, review_id)
    if review is None:
        raise NotFound(f"review {review_id} does not exist", field="review_id")
    return review


async def get_readable(session: AsyncSession, principal: Principal, review_id: int) -> Review:
    require(principal, Permission.review_read)
    return await get(session, review_id)


async def list_reviews(
    session: AsyncSession, *, principal: Principal, drill_id: int | None = None, limit: int = 100
) -> list[Review]:
    require(principal, Permission.review_read)
    query = select(Review).order_by(Review.id.desc()).limit(limit)
    if drill_id is not None:
        query = query.where(Review.drill_id == drill_id)
    return list((await session.execute(query)).scalars().all())


async def checks_of(session: AsyncSession, review_ids: list[int]) -> list[ReviewCheck]:
    if not review_ids:
        return []
    query = (
        select(ReviewCheck)
        .where(ReviewCheck.review_id.in_(review_ids))
        .order_by(ReviewCheck.review_id, ReviewCheck.position)
    )
    return list((await session.execute(query)).scalars().all())


def check_view(check: ReviewCheck) -> dict[str, Any]:
    return {
        "check_id": check.check_id,
        "title_zh": check.title_zh,
        "title_en": check.title_en,
        "stage": check.stage,
        "department": check.department,
        "status": check.status,
        "elapsed": check.elapsed,
        "score": check.score,
        "weight": check.weight,
        "critical": check.critical,
        "fields_missing": check.fields_missing,
        "rating": check.rating,
        "override_rating": check.override_rating,
        "override_justification": check.override_justification,
        "override_by": check.override_by_name,
        "override_at": check.override_at,
        "effective_rating": check.override_rating or check.rating,
    }


async def view(session: AsyncSession, review: Review, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    rows = await items.for_reviews(session, [review.id])
    held = review.meeting_held_at
    return {
        "id": review.id,
        "drill_id": review.drill_id,
        "drill": True,
        "scenario_key": review.scenario_key,
        "scenario_title_zh": review.scenario_title_zh,
        "scenario_title_en": review.scenario_title_en,
        "rubric_version": review.rubric_version,
        "finished_at": review.finished_at,
        "overall": review.overall,
        "rating": review.rating,
        "capped": review.capped,
        "meeting_due_at": review.meeting_due_at,
        "meeting_held_at": held,
        "meeting_minutes": review.meeting_minutes,
        "meeting_late": (held or now) > review.meeting_due_at,
        "checks": [check_view(c) for c in await checks_of(session, [review.id])],
        "items": await items.views(session, rows, {review.id: review.drill_id}, now),
        "progress": items.progress(rows, now),
    }


async def override(
    session: AsyncSession, *, principal: Principal, review_id: int, data: OverrideCreate
) -> Review:
    """Set an evaluator's rating beside the automatic one; an override to M or U drafts an item if none.

    An override away from M or U leaves existing items alone: an item is closed with evidence or by the
    meeting's decision (close it with the minutes as evidence), never silently deleted.
    """
    require(principal, Permission.review_write)
    review = await get(session, review_id)
    check = (
        await session.execute(
            select(ReviewCheck).where(
                ReviewCheck.review_id == review.id, ReviewCheck.check_id == data.check_id
            )
        )
    ).scalar_one_or_none()
    if check is None:
        raise NotFound(f"review {review_id} has no check '{data.check_id}'", field="check_id")
    if not data.justification.strip():
        raise ValidationFailed(
            "an override needs a written justification",
            field="justification",
            params={"rule": "review.override_needs_justification"},
        )
    now = utcnow()
    previous = check.override_rating
    check.override_rating = data.rating
    check.override_justification = data.justification
    check.override_by_id, check.override_by_name, check.override_at = principal.id, principal.name, now
    if data.rating in NEEDS_RECTIFICATION:
        drafted = (
            await session.execute(
                select(RectificationItem.id).where(
                    RectificationItem.review_id == review.id,
                    RectificationItem.source == "check",
                    RectificationItem.check_id == check.check_id,
                )
            )
        ).first()
        if drafted is None:
            await items.draft(
                session,
                review=review,
                source="check",
                check_id=check.check_id,
                title=_check_title(check),
                department=check.department or DEFAULT_DEPARTMENT,
                deadline=now + RECTIFICATION_DUE,
                now=now,
                actor=principal,
            )
    await audit.record(
        session,
        action="review.override",
        actor=principal,
        target=subject(review.id),
        detail={
            "check_id": check.check_id,
            "automatic": check.rating,
            "previous": previous,
            "rating": data.rating,
            "justification": data.justification,
        },
    )
    emit(
        session,
        items.drill_channel(review.drill_id),
        type="review.override",
        id=review.id,
        drill=True,
        check=check_view(check),
    )
    return review


async def add_finding(
    session: AsyncSession, *, principal: Principal, review_id: int, data: FindingCreate
) -> RectificationItem:
    """Draft an item from an evaluator's finding (e.g. "信息共享不畅", "适用法律存在争议")."""
    require(principal, Permission.review_write)
    review = await get(session, review_id)
    now = utcnow()
    await items.check_department(session, data.department)
    items.check_future(data.deadline, now)
    return await items.draft(
        session,
        review=review,
        source="finding",
        title=data.text,
        department=data.department,
        leader=data.leader,
        deadline=data.deadline,
        now=now,
        actor=principal,
    )


async def mark_meeting_held(
    session: AsyncSession, *, principal: Principal, review_id: int, data: MeetingRecord
) -> Review:
    """Record the review meeting and its minutes; its deadline is met (or met late) at ``held_at``."""
    require(principal, Permission.review_write)
    review = await get(session, review_id)
    if review.meeting_held_at is not None:
        raise Conflict(
            f"the meeting of review {review_id} was already recorded",
            field="held_at",
            params={"rule": "review.meeting_recorded"},
        )
    now = utcnow()
    held_at = data.held_at or now
    if held_at > now:
        raise ValidationFailed("held_at is in the future", field="held_at", params={"rule": "time.future"})
    if held_at < review.finished_at:
        raise ValidationFailed(
            "held_at is before the drill ended", field="held_at", params={"rule": "review.meeting_before_end"}
        )
    review.meeting_held_at = held_at
    review.meeting_minutes = data.minutes
    review.meeting_recorded_by_id = principal.id
    await deadlines.complete(session, subject=subject(review.id), kind=MEETING, at=held_at)
    late = held_at > review.meeting_due_at
    await audit.record(
        session, action="review.meeting", actor=principal, target=subject(review.id), detail={"late": late}
    )
    emit(
        session,
        [items.drill_channel(review.drill_id), "board"],
        type="review.meeting_held",
        id=review.id,
        drill=True,
        held_at=held_at,
        late=late,
    )
    return review


async def on_deadline_missed(session: AsyncSession, deadline: Deadline, now: datetime) -> None:
    """The meeting was not held within 3 days: flag the review late and say so on the board."""
    review = await session.get(Review, int(deadline.subject.split(":", 1)[1]))
    if review is None or review.meeting_held_at is not None:
        return
    review.meeting_overdue_at = now
    await audit.record(
        session,
        action="review.meeting_overdue",
        target=subject(review.id),
        detail={"drill_id": review.drill_id, "due_at": review.meeting_due_at.isoformat()},
        at=now,
    )
    emit(
        session,
        [items.drill_channel(review.drill_id), "board"],
        type="review.meeting_overdue",
        id=review.id,
        drill=True,
        drill_id=review.drill_id,
        meeting_due_at=review.meeting_due_at,
    )
