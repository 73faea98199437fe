"""Floor control: one speaker per talkgroup, granted, released, pre-empted and taken back on time-out.

Every decision is a compare-and-swap on the floor row's ``version`` inside the caller's transaction, so
several server processes share one floor through the database with no lock held between requests. The
answers and announcements are outbox events of that same transaction (DESIGN.md sections 4 and 9):

    user:{id}      <- ptt.granted | ptt.denied            (the answer to the requester)
    {talkgroup}    <- ptt.granted | ptt.released          (everyone listening on the incident/task force)

``now`` is always given by the caller (an injected clock), so time-outs are testable without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth.roles import Principal, Role
from command_center.events import emit
from command_center.hub import channels as names
from command_center.ptt.models import PttFloor
from command_center.ptt.talkgroups import NotAMember, Talkgroup, member_of

#: The command room: may take the floor from anyone outside it.
COMMAND_ROLES = frozenset({Role.commander.value, Role.duty_officer.value, Role.admin.value})
_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Decision:
    granted: bool
    talkgroup: str
    reason: str = ""  # denied: busy | not_member; released: released | timeout | preempted


async def request(
    session: AsyncSession, principal: Principal, name: object, *, now: datetime, max_hold: float, ref: object
) -> Decision:
    """Ask for the floor of talkgroup ``name``; the answer goes to ``user:{principal.id}``."""
    try:
        group = await member_of(session, principal, name)
    except NotAMember as exc:
        await audit.record(
            session,
            action="ptt.denied",
            actor=principal,
            target=str(name)[:64],
            outcome="denied",
            detail={"reason": "not_member"},
        )
        _answer(session, principal, str(name)[:64], False, ref, False, reason="not_member", detail=str(exc))
        return Decision(False, str(name)[:64], "not_member")
    for _ in range(_ATTEMPTS):
        floor = await _floor(session, group)
        held = floor.holder_id is not None and floor.holder_id != principal.id
        expired = held and _expired(floor, now, max_hold)
        preempt = held and not expired and principal.role.value in COMMAND_ROLES
        preempt = preempt and floor.holder_role not in COMMAND_ROLES
        if held and not expired and not preempt:
            await audit.record(
                session,
                action="ptt.denied",
                actor=principal,
                target=group.name,
                outcome="denied",
                detail={"reason": "busy", "holder": floor.holder_id, "drill": group.drill},
            )
            _answer(
                session, principal, group.name, False, ref, group.drill, reason="busy", holder=_holder(floor)
            )
            return Decision(False, group.name, "busy")
        previous = _holder(floor) if held else None
        previous_at = floor.granted_at
        spurt = floor.spurts + (0 if floor.holder_id == principal.id else 1)
        if not await _swap(session, floor, holder=principal, at=now, spurts=spurt):
            continue  # another process changed the floor between our read and our write: decide again
        if previous is not None:
            await _released(
                session,
                group,
                previous,
                previous_at,
                now,
                reason="timeout" if expired else "preempted",
                by=principal,
            )
        await audit.record(
            session,
            action="ptt.granted",
            actor=principal,
            target=group.name,
            detail={
                "spurt": spurt,
                "drill": group.drill,
                "preempted": previous["id"] if preempt and previous else None,
            },
        )
        _answer(
            session, principal, group.name, True, ref, group.drill, spurt=spurt, max_hold_seconds=max_hold
        )
        emit(
            session,
            group.name,
            type="ptt.granted",
            id=group.name,
            drill=group.drill,
            talkgroup=group.name,
            speaker=principal.public(),
            spurt=spurt,
            granted_at=now,
            max_hold_seconds=max_hold,
        )
        return Decision(True, group.name)
    _answer(session, principal, group.name, False, ref, group.drill, reason="busy")
    return Decision(False, group.name, "busy")


async def release(session: AsyncSession, principal: Principal, name: object, *, now: datetime) -> bool:
    """Give the floor back; False (and nothing announced) when this user does not hold it."""
    try:
        group = await member_of(session, principal, name)
    except NotAMember:
        return False
    floor = await session.get(PttFloor, group.name, populate_existing=True)
    if floor is None or floor.holder_id != principal.id:
        return False
    holder, at = _holder(floor), floor.granted_at
    if not await _swap(session, floor, holder=None, at=None, spurts=floor.spurts):
        return False
    await _released(session, group, holder, at, now, reason="released", by=principal)
    return True


async def take_back_expired(session: AsyncSession, *, now: datetime, max_hold: float) -> list[str]:
    """Release every floor held longer than ``max_hold`` seconds; return the talkgroups taken back."""
    cutoff = now - timedelta(seconds=max_hold)
    rows = (
        (
            await session.execute(
                select(PttFloor).where(PttFloor.holder_id.is_not(None), PttFloor.granted_at <= cutoff)
            )
        )
        .scalars()
        .all()
    )
    taken: list[str] = []
    for floor in rows:
        holder, at = _holder(floor), floor.granted_at
        if await _swap(session, floor, holder=None, at=None, spurts=floor.spurts):
            await _released(
                session, Talkgroup(floor.talkgroup, floor.drill), holder, at, now, reason="timeout"
            )
            taken.append(floor.talkgroup)
    return taken


async def holder(session: AsyncSession, name: str) -> dict[str, object] | None:
    floor = await session.get(PttFloor, name, populate_existing=True)
    return _holder(floor) if floor is not None and floor.holder_id is not None else None


# -- internals ---------------------------------------------------------------------------------------------


async def _floor(session: AsyncSession, group: Talkgroup) -> PttFloor:
    floor = await session.get(PttFloor, group.name, populate_existing=True)
    if floor is not None:
        return floor
    try:
        async with session.begin_nested():
            session.add(PttFloor(talkgroup=group.name, version=0, drill=group.drill, spurts=0))
    except IntegrityError:
        pass  # another process made it first
    floor = await session.get(PttFloor, group.name, populate_existing=True)
    assert floor is not None
    return floor


async def _swap(
    session: AsyncSession, floor: PttFloor, *, holder: Principal | None, at: datetime | None, spurts: int
) -> bool:
    seen = floor.version
    result = await session.execute(
        update(PttFloor)
        .where(PttFloor.talkgroup == floor.talkgroup, PttFloor.version == seen)
        .values(
            version=seen + 1,
            holder_id=holder.id if holder else None,
            holder_name=holder.name if holder else "",
            holder_role=holder.role.value if holder else "",
            granted_at=at,
            spurts=spurts,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def _expired(floor: PttFloor, now: datetime, max_hold: float) -> bool:
    return floor.granted_at is not None and now - floor.granted_at >= timedelta(seconds=max_hold)


def _holder(floor: PttFloor) -> dict[str, object]:
    return {"id": floor.holder_id, "name": floor.holder_name, "role": floor.holder_role}


async def _released(
    session: AsyncSession,
    group: Talkgroup,
    holder: dict[str, object],
    granted_at: datetime | None,
    now: datetime,
    *,
    reason: str,
    by: Principal | None = None,
) -> None:
    seconds = round((now - granted_at).total_seconds(), 3) if granted_at else None
    await audit.record(
        session,
        action="ptt.released",
        actor=by,
        target=group.name,
        detail={"holder": holder["id"], "reason": reason, "seconds": seconds, "drill": group.drill},
    )
    emit(
        session,
        group.name,
        type="ptt.released",
        id=group.name,
        drill=group.drill,
        talkgroup=group.name,
        speaker=holder,
        reason=reason,
        seconds=seconds,
        by=by.public() if by else None,
    )
    if reason != "released" and holder["id"] is not None:
        # The speaker who lost the floor hears it on its own channel too (its page stops sending).
        emit(
            session,
            names.user(str(holder["id"])),
            type="ptt.released",
            id=group.name,
            drill=group.drill,
            talkgroup=group.name,
            reason=reason,
            seconds=seconds,
        )


def _answer(
    session: AsyncSession,
    principal: Principal,
    talkgroup: str,
    granted: bool,
    ref: object,
    drill: bool,
    **extra: object,
) -> None:
    emit(
        session,
        names.user(principal.id),
        type="ptt.granted" if granted else "ptt.denied",
        id=talkgroup,
        drill=drill,
        talkgroup=talkgroup,
        request=ref if isinstance(ref, str | int) else None,
        **extra,
    )
