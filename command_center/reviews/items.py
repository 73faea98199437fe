"""The rectification list (整改清单): drafting items, evidence, status changes one by one, escalation.

Rules a reader may not guess: closing needs at least one evidence entry; ``verified`` comes only after
``closed`` and from a reviewer other than the one who closed the item (four eyes); a verifier who is not
convinced sends the item back to ``in_progress`` with a note. Each item has a stored deadline
(subject ``rectification:{id}``) swept like every other; a missed one escalates on the board.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth import service as auth
from command_center.auth.permissions import Permission, require
from command_center.auth.roles import Principal
from command_center.db import utcnow
from command_center.deadlines import service as deadlines
from command_center.deadlines.models import Deadline
from command_center.errors import Conflict, Forbidden, NotFound, ValidationFailed
from command_center.events import emit
from command_center.reviews.evidence import EvidenceFile
from command_center.reviews.models import (
    RectificationEvidence,
    RectificationHistory,
    RectificationItem,
    Review,
)
from command_center.reviews.rules import DONE, RECTIFICATION_WARN, TRANSITIONS, ItemStatus
from command_center.reviews.schemas import EvidenceCreate, ItemUpdate, StatusChange

KIND = "rectification"


def subject(item_id: int) -> str:
    return f"rectification:{item_id}"


def drill_channel(drill_id: int) -> str:
    return f"drill:{drill_id}"


async def get(session: AsyncSession, item_id: int) -> RectificationItem:
    item = await session.get(RectificationItem, item_id)
    if item is None:
        raise NotFound(f"rectification item {item_id} does not exist", field="item_id")
    return item


async def get_readable(session: AsyncSession, principal: Principal, item_id: int) -> RectificationItem:
    require(principal, Permission.review_read)
    return await get(session, item_id)


async def _review_of(session: AsyncSession, item: RectificationItem) -> Review:
    review = await session.get(Review, item.review_id)
    assert review is not None  # the foreign key guarantees it
    return review


async def check_department(session: AsyncSession, code: str) -> None:
    if code not in {d.code for d in await auth.list_departments(session)}:
        raise NotFound(f"unknown department '{code}'", field="department")


def check_future(deadline: datetime, now: datetime) -> None:
    if deadline <= now:
        raise ValidationFailed(
            "the deadline must be in the future", field="deadline", params={"rule": "time.past"}
        )


async def _schedule(session: AsyncSession, item: RectificationItem, review: Review, now: datetime) -> None:
    await deadlines.schedule(
        session,
        subject=subject(item.id),
        kind=KIND,
        starts_at=min(now, item.deadline),
        due_at=item.deadline,
        warn_before=RECTIFICATION_WARN,
        # The sweep adds "board" itself; naming it here would send every warning there twice.
        channels=[drill_channel(review.drill_id)],
        label=f"整改事项 rectification item #{item.id}",
        drill=True,
        responsible={"department": item.department, "leader": item.leader, "review_id": review.id},
    )


def _history(
    item: RectificationItem, to: str, *, actor: Principal | None, note: str, at: datetime
) -> RectificationHistory:
    return RectificationHistory(
        item_id=item.id,
        at=at,
        from_status=item.status,
        to_status=to,
        note=note,
        actor_id=actor.id if actor else None,
        actor_name=actor.name if actor else "system",
    )


async def draft(
    session: AsyncSession,
    *,
    review: Review,
    source: str,
    title: str,
    department: str,
    deadline: datetime,
    now: datetime,
    leader: str = "",
    check_id: str | None = None,
    actor: Principal | None = None,
) -> RectificationItem:
    """Add one open item to the review's list and start its deadline (``now``: when its clock starts)."""
    item = RectificationItem(
        review_id=review.id,
        source=source,
        check_id=check_id,
        title=title,
        department=department,
        leader=leader,
        deadline=deadline,
        status=ItemStatus.open.value,
        created_at=utcnow(),
        created_by_id=actor.id if actor else None,
    )
    session.add(item)
    await session.flush()
    drafted = _history(item, ItemStatus.open.value, actor=actor, note="drafted", at=now)
    drafted.from_status = ""
    session.add(drafted)
    await _schedule(session, item, review, now)
    await audit.record(
        session,
        action="rectification.draft",
        actor=actor,
        target=subject(item.id),
        detail={"review_id": review.id, "source": source, "check_id": check_id, "department": department},
    )
    emit(
        session,
        drill_channel(review.drill_id),
        type="rectification.drafted",
        id=item.id,
        drill=True,
        review_id=review.id,
        item=(await views(session, [item], {review.id: review.drill_id}, now))[0],
    )
    return item


async def for_reviews(session: AsyncSession, review_ids: Iterable[int]) -> list[RectificationItem]:
    ids = list(review_ids)
    if not ids:
        return []
    query = (
        select(RectificationItem)
        .where(RectificationItem.review_id.in_(ids))
        .order_by(RectificationItem.review_id, RectificationItem.id)
    )
    return list((await session.execute(query)).scalars().all())


def is_overdue(item: RectificationItem, now: datetime) -> bool:
    return ItemStatus(item.status) not in DONE and item.deadline <= now


async def views(
    session: AsyncSession,
    items: Sequence[RectificationItem],
    drill_ids: dict[int, int],
    now: datetime,
) -> list[dict[str, Any]]:
    """What screens and exports show of each item, with its evidence and status trail."""
    ids = [i.id for i in items]
    evidence: dict[int, list[RectificationEvidence]] = defaultdict(list)
    history: dict[int, list[RectificationHistory]] = defaultdict(list)
    if ids:
        for row in (
            await session.execute(
                select(RectificationEvidence)
                .where(RectificationEvidence.item_id.in_(ids))
                .order_by(RectificationEvidence.id)
            )
        ).scalars():
            evidence[row.item_id].append(row)
        for entry in (
            await session.execute(
                select(RectificationHistory)
                .where(RectificationHistory.item_id.in_(ids))
                .order_by(RectificationHistory.id)
            )
        ).scalars():
            history[entry.item_id].append(entry)
    return [
        {
            "id": item.id,
            "review_id": item.review_id,
            "drill_id": drill_ids[item.review_id],
            "source": item.source,
            "check_id": item.check_id,
            "title": item.title,
            "department": item.department,
            "leader": item.leader,
            "deadline": item.deadline,
            "status": item.status,
            "overdue": is_overdue(item, now),
            "escalated_at": item.escalated_at,
            "closed_at": item.closed_at,
            "verified_at": item.verified_at,
            "created_at": item.created_at,
            "evidence": [
                {
                    "id": e.id,
                    "description": e.description,
                    "reference": e.reference,
                    "sha256": e.sha256,
                    "file_name": e.file_name,
                    "file_size": e.file_size,
                    "content_type": e.content_type,
                    "added_at": e.added_at,
                    "added_by": e.added_by_name,
                }
                for e in evidence[item.id]
            ],
            "history": [
                {
                    "at": h.at,
                    "from_status": h.from_status,
                    "to_status": h.to_status,
                    "note": h.note,
                    "actor": h.actor_name,
                }
                for h in history[item.id]
            ],
        }
        for item in items
    ]


def progress(items: Sequence[RectificationItem], now: datetime) -> dict[str, Any]:
    """The list at a glance: counts per status, overdue items, percent closed and verified."""
    by_status = {status.value: 0 for status in ItemStatus}
    for item in items:
        by_status[item.status] += 1
    total = len(items)
    done = by_status[ItemStatus.closed] + by_status[ItemStatus.verified]

    def percent(count: int) -> float:
        return round(100.0 * count / total, 1) if total else 0.0

    return {
        "total": total,
        "by_status": by_status,
        "overdue": sum(is_overdue(i, now) for i in items),
        "percent_closed": percent(done),
        "percent_verified": percent(by_status[ItemStatus.verified]),
    }


async def view_one(
    session: AsyncSession, item: RectificationItem, now: datetime | None = None
) -> dict[str, Any]:
    now = now or utcnow()
    review = await _review_of(session, item)
    return (await views(session, [item], {review.id: review.drill_id}, now))[0]


async def evidence_target(session: AsyncSession, principal: Principal, item_id: int) -> RectificationItem:
    """The item ``principal`` may add evidence to (asked before an upload is stored, so a refusal leaves
    no file behind), or the reason it may not."""
    require(principal, Permission.review_write)
    item = await get(session, item_id)
    if item.status == ItemStatus.verified:
        raise Conflict(
            f"rectification item {item_id} is verified; its evidence is final",
            params={"rule": "item.verified_final"},
        )
    return item


async def add_evidence(
    session: AsyncSession,
    *,
    principal: Principal,
    item_id: int,
    data: EvidenceCreate,
    file: EvidenceFile | None = None,
) -> RectificationItem:
    """Record evidence: a reference (URL, document number) or an uploaded file stored by its SHA-256."""
    item = await evidence_target(session, principal, item_id)
    now = utcnow()
    session.add(
        RectificationEvidence(
            item_id=item.id,
            description=data.description,
            reference=data.reference,
            sha256=file.sha256 if file else data.sha256.lower() if data.sha256 else None,
            file_name=file.file_name if file else None,
            file_size=file.size if file else None,
            content_type=file.content_type if file else None,
            added_at=now,
            added_by_id=principal.id,
            added_by_name=principal.name,
        )
    )
    await session.flush()
    await audit.record(
        session,
        action="rectification.evidence",
        actor=principal,
        target=subject(item.id),
        detail={"reference": data.reference, "sha256": file.sha256 if file else data.sha256}
        | ({"file_name": file.file_name, "size": file.size} if file else {}),
    )
    await _emit_changed(session, item, now, "rectification.evidence_added")
    return item


async def _emit_changed(session: AsyncSession, item: RectificationItem, now: datetime, type_: str) -> None:
    view = await view_one(session, item, now)
    emit(session, drill_channel(view["drill_id"]), type=type_, id=item.id, drill=True, item=view)


async def change_status(
    session: AsyncSession, *, principal: Principal, item_id: int, data: StatusChange
) -> RectificationItem:
    """Move an item one step; closing needs evidence, verifying needs a second person."""
    require(principal, Permission.review_write)
    item = await get(session, item_id)
    current, target = ItemStatus(item.status), ItemStatus(data.status)
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (it is final)"
        raise Conflict(
            f"rectification item {item_id} is '{current.value}'; it cannot become '{target.value}' "
            f"(allowed: {allowed})",
            field="status",
            params={"rule": "item.transition", "status": current.value, "target": target.value},
        )
    now = utcnow()
    if target == ItemStatus.closed:
        # Reopened, it closes on evidence added since: the reopening said what the old evidence lacked
        # (found in review: it closed again at once on the very evidence the verifier had sent back).
        reopen = (
            await session.execute(
                select(RectificationHistory.at, RectificationHistory.note)
                .where(
                    RectificationHistory.item_id == item.id,
                    RectificationHistory.from_status.in_([s.value for s in DONE]),
                    RectificationHistory.to_status == ItemStatus.in_progress.value,
                )
                .order_by(RectificationHistory.at.desc())
                .limit(1)
            )
        ).first()
        evidence = select(RectificationEvidence.id).where(RectificationEvidence.item_id == item.id)
        if reopen is not None:
            evidence = evidence.where(RectificationEvidence.added_at >= reopen.at)
        has_evidence = (await session.execute(evidence.limit(1))).first()
        if has_evidence is None and reopen is not None:
            raise ValidationFailed(
                f"rectification item {item_id} was reopened ('{reopen.note}'); add evidence of what it "
                f"said was missing with POST /api/reviews/items/{item_id}/evidence before closing it again",
                field="evidence",
                params={"rule": "item.close_needs_new_evidence", "note": reopen.note},
            )
        if has_evidence is None:
            raise ValidationFailed(
                f"rectification item {item_id} cannot be closed without evidence: add at least one "
                f"evidence entry (description and reference: a URL or document number) with "
                f"POST /api/reviews/items/{item_id}/evidence first",
                field="evidence",
                params={"rule": "item.close_needs_evidence"},
            )
    if target in (ItemStatus.closed, ItemStatus.verified) and not item.leader.strip():
        raise ValidationFailed(
            f"rectification item {item_id} has no leader in charge (包案领导); name one with "
            f"PATCH /api/reviews/items/{item_id} before it is {target.value}",
            field="leader",
        )
    if target == ItemStatus.verified and item.closed_by_id == principal.id:
        raise Forbidden(
            f"rectification item {item_id} was closed by '{principal.name}'; another reviewer must verify it",
            params={"rule": "item.verify_by_other"},
        )
    if current == ItemStatus.closed and target == ItemStatus.in_progress and not data.note.strip():
        raise ValidationFailed(
            "reopening a closed item needs a note saying what is missing",
            field="note",
            params={"rule": "item.reopen_needs_note"},
        )
    session.add(_history(item, target.value, actor=principal, note=data.note, at=now))
    item.status = target.value
    if target == ItemStatus.closed:
        item.closed_at, item.closed_by_id = now, principal.id
        await deadlines.complete(session, subject=subject(item.id), kind=KIND, at=now)
    elif target == ItemStatus.verified:
        item.verified_at, item.verified_by_id = now, principal.id
    elif current == ItemStatus.closed:  # reopened: its clock runs again (an overdue one escalates again)
        item.closed_at = item.closed_by_id = None
        await _schedule(session, item, await _review_of(session, item), now)
    await audit.record(
        session,
        action="rectification.status",
        actor=principal,
        target=subject(item.id),
        detail={"from": current.value, "to": target.value},
    )
    await _emit_changed(session, item, now, "rectification.status_changed")
    return item


async def update(
    session: AsyncSession, *, principal: Principal, item_id: int, data: ItemUpdate
) -> RectificationItem:
    """Set the owner department, the leader in charge, or a new deadline (its clock is rescheduled)."""
    require(principal, Permission.review_write)
    item = await get(session, item_id)
    if ItemStatus(item.status) in DONE:
        raise Conflict(
            f"rectification item {item_id} is {item.status}; reopen it before changing it",
            params={"rule": "item.reopen_first", "status": item.status},
        )
    now = utcnow()
    changed: dict[str, Any] = {}
    if data.department is not None and data.department != item.department:
        await check_department(session, data.department)
        changed["department"] = item.department = data.department
    if data.leader is not None and data.leader != item.leader:
        changed["leader"] = item.leader = data.leader
    if data.deadline is not None and data.deadline != item.deadline:
        check_future(data.deadline, now)
        item.deadline = data.deadline
        changed["deadline"] = item.deadline.isoformat()  # UTC, as the column keeps it
        await deadlines.cancel(session, subject=subject(item.id), kind=KIND, at=now)
        await _schedule(session, item, await _review_of(session, item), now)
    elif changed:  # keep the stored deadline's "who is responsible" current for its warnings
        for deadline in await deadlines.open_deadlines(session, subject(item.id), KIND):
            owner = {"department": item.department, "leader": item.leader}
            deadline.responsible = {**deadline.responsible, **owner}
    if changed:
        await audit.record(
            session, action="rectification.update", actor=principal, target=subject(item.id), detail=changed
        )
        await _emit_changed(session, item, now, "rectification.updated")
    return item


async def on_deadline_missed(session: AsyncSession, deadline: Deadline, now: datetime) -> None:
    """An item passed its deadline unclosed: mark it escalated and raise it on the board."""
    item = await session.get(RectificationItem, int(deadline.subject.split(":", 1)[1]))
    if item is None or ItemStatus(item.status) in DONE:
        return
    item.escalated_at = now
    review = await _review_of(session, item)
    await audit.record(
        session,
        action="rectification.overdue",
        target=subject(item.id),
        detail={"review_id": review.id, "department": item.department, "due_at": item.deadline.isoformat()},
        at=now,
    )
    emit(
        session,
        ["board", drill_channel(review.drill_id)],
        type="rectification.overdue",
        id=item.id,
        drill=True,
        review_id=review.id,
        item=(await views(session, [item], {review.id: review.drill_id}, now))[0],
    )


async def evidence_file(
    session: AsyncSession, *, principal: Principal, evidence_id: int
) -> RectificationEvidence:
    """An uploaded evidence row for download; reading it is audited (chain of custody)."""
    require(principal, Permission.review_read)
    row = await session.get(RectificationEvidence, evidence_id)
    if row is None or row.sha256 is None or row.file_name is None:
        raise NotFound(f"evidence {evidence_id} has no uploaded file", field="evidence_id")
    await audit.record(
        session,
        action="rectification.evidence_download",
        actor=principal,
        target=subject(row.item_id),
        detail={"evidence_id": row.id, "sha256": row.sha256},
    )
    return row
