"""Floor control: one speaker per talkgroup, granted, released, pre-empted and taken back on time-out.

Every decision is a compare-and-swap on the floor row's ``version`` inside the caller's transaction, so
several server processes share one floor through the database with no lock held between requests. The
answers and announcements are outbox events of that same transaction (DESIGN.md sections 4 and 9):

    user:{id}         <- ptt.granted | ptt.denied        (the answer to the requester)
    talkgroup channel <- ptt.granted | ptt.released      (incident:{id} / taskforce:{id}; for talk-back
                                                          stream:{id}, the officer's user:{id})

Media: the holder publishes its talk spurt as an audio-only stream (WHIP or hub signaling) and asks again
with ``stream_id``; the floor keeps its grant time and announces ``ptt.granted`` with the ``stream_id``,
which members play through the relay. The spurt's recording segment and SHA-256 are audited by the stream
registry like any recording (``recording.segment`` on ``stream:{id}``), and ``ptt.released`` names it.

``now`` is always given by the caller (an injected clock), so time-outs are testable without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth.roles import Principal
from command_center.events import emit
from command_center.hub import channels as names
from command_center.ptt.models import PttFloor
from command_center.ptt.talkgroups import COMMAND_ROLES, NotAMember, Talkgroup, member_of
from command_center.streams.models import StreamRecord

_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Decision:
    granted: bool
    talkgroup: str
    reason: str = ""  # denied: busy | not_member | bad_stream
    #: The spurt stream of a speaker this decision took the floor from (to be ended), if any.
    cut_stream: str | None = None


async def request(
    session: AsyncSession,
    principal: Principal,
    name: object,
    *,
    now: datetime,
    max_hold: float,
    ref: object,
    stream_id: object = None,
) -> Decision:
    """Ask for the floor of talkgroup ``name`` (or, holding it, attach the spurt's ``stream_id``)."""
    try:
        group = await member_of(session, principal, name)
    except NotAMember as exc:
        return await _deny(session, principal, str(name)[:64], False, ref, "not_member", detail=str(exc))
    media: str | None = None
    if stream_id is not None:
        media = await _own_live_stream(session, principal, stream_id)
        if media is None:
            detail = "stream_id must name your own live stream"
            return await _deny(session, principal, group.name, group.drill, ref, "bad_stream", detail=detail)
    for _ in range(_ATTEMPTS):
        floor = await _floor(session, group)
        mine = floor.holder_id == principal.id
        held = floor.holder_id is not None and not mine
        expired = held and _expired(floor, now, max_hold)
        preempt = held and not expired and principal.role.value in COMMAND_ROLES
        preempt = preempt and floor.holder_role not in COMMAND_ROLES
        if held and not expired and not preempt:
            holder = _holder(floor)
            return await _deny(session, principal, group.name, group.drill, ref, "busy", holder=holder)
        previous, previous_at, previous_stream = (
            (_holder(floor) if held else None),
            floor.granted_at,
            floor.stream_id,
        )
        spurt = floor.spurts if mine else floor.spurts + 1
        granted_at = floor.granted_at if mine and floor.granted_at else now  # asking again never extends
        stream = media or (floor.stream_id if mine else None)
        if not await _swap(session, floor, holder=principal, at=granted_at, spurts=spurt, stream_id=stream):
            continue  # another process changed the floor between our read and our write: decide again
        if previous is not None:
            reason = "timeout" if expired else "preempted"
            await _released(
                session,
                group,
                previous,
                previous_at,
                now,
                reason=reason,
                by=principal,
                stream_id=previous_stream,
            )
        if not mine or media:
            await audit.record(
                session,
                action="ptt.granted",
                actor=principal,
                target=group.name,
                detail={
                    "spurt": spurt,
                    "drill": group.drill,
                    "stream_id": stream,
                    "to": group.channel if group.name.startswith("stream:") else None,
                    "preempted": previous["id"] if previous else None,
                },
            )
        _answer(
            session,
            principal,
            group.name,
            True,
            ref,
            group.drill,
            spurt=spurt,
            stream_id=stream,
            max_hold_seconds=max_hold,
            granted_at=granted_at,
        )
        emit(
            session,
            group.channel,
            type="ptt.granted",
            id=group.name,
            drill=group.drill,
            talkgroup=group.name,
            speaker=_speaker(principal),
            spurt=spurt,
            granted_at=granted_at,
            max_hold_seconds=max_hold,
            stream_id=stream,
        )
        return Decision(True, group.name, cut_stream=previous_stream if previous is not None else None)
    return await _deny(session, principal, group.name, group.drill, ref, "busy")


async def release(
    session: AsyncSession, principal: Principal, name: object, *, now: datetime, reason: str = "released"
) -> bool:
    """Give the floor back; False (and nothing announced) when this user does not hold it.

    The holder may always give its floor back, also once it is no longer a member (its department was
    taken off the task force while it talked): otherwise the talkgroup stayed blocked until the time-out.
    """
    floor = await session.get(PttFloor, name, populate_existing=True) if isinstance(name, str) else None
    if floor is None or floor.holder_id != principal.id:
        return False
    try:
        group = await member_of(session, principal, name)
    except NotAMember:
        group = Talkgroup(floor.talkgroup, floor.drill, floor.channel)
    holder, at, stream = _holder(floor), floor.granted_at, floor.stream_id
    if not await _swap(session, floor, holder=None, at=None, spurts=floor.spurts, stream_id=None):
        return False
    await _released(session, group, holder, at, now, reason=reason, by=principal, stream_id=stream)
    return True


async def release_all(
    session: AsyncSession, principal: Principal, *, now: datetime, reason: str
) -> list[str]:
    """Give back every floor ``principal`` holds (its last connection closed); the talkgroups released."""
    held = select(PttFloor.talkgroup).where(PttFloor.holder_id == principal.id)
    released = []
    for name in (await session.execute(held)).scalars().all():
        if await release(session, principal, name, now=now, reason=reason):
            released.append(name)
    return released


async def take_back_expired(
    session: AsyncSession, *, now: datetime, max_hold: float
) -> list[tuple[str, str | None]]:
    """Release every floor held longer than ``max_hold`` seconds; return (talkgroup, spurt stream) taken."""
    cutoff = now - timedelta(seconds=max_hold)
    query = select(PttFloor).where(PttFloor.holder_id.is_not(None), PttFloor.granted_at <= cutoff)
    taken: list[tuple[str, str | None]] = []
    for floor in (await session.execute(query)).scalars().all():
        holder, at, stream = _holder(floor), floor.granted_at, floor.stream_id
        group = Talkgroup(floor.talkgroup, floor.drill, floor.channel)
        if await _swap(session, floor, holder=None, at=None, spurts=floor.spurts, stream_id=None):
            await _released(session, group, holder, at, now, reason="timeout", stream_id=stream)
            taken.append((floor.talkgroup, stream))
    return taken


async def state(session: AsyncSession, principal: Principal, name: str) -> dict[str, Any]:
    """Who holds the floor now (for a page that opens mid-spurt); NotAMember for outsiders."""
    group = await member_of(session, principal, name)
    floor = await session.get(PttFloor, group.name, populate_existing=True)
    if floor is None or floor.holder_id is None:
        return {"talkgroup": group.name, "drill": group.drill, "speaker": None, "stream_id": None}
    return {
        "talkgroup": group.name,
        "drill": group.drill,
        "speaker": _holder(floor),
        "stream_id": floor.stream_id,
        "granted_at": floor.granted_at,
    }


# -- internals ---------------------------------------------------------------------------------------------


async def _own_live_stream(session: AsyncSession, principal: Principal, stream_id: object) -> str | None:
    if not isinstance(stream_id, str) or not stream_id.isalnum() or len(stream_id) > 64:
        return None
    row = await session.get(StreamRecord, stream_id)
    if row is None or row.officer_id != principal.id or row.ended_at is not None:
        return None
    return row.id


async def _floor(session: AsyncSession, group: Talkgroup) -> PttFloor:
    floor = await session.get(PttFloor, group.name, populate_existing=True)
    if floor is not None:
        return floor
    try:
        async with session.begin_nested():
            session.add(
                PttFloor(talkgroup=group.name, channel=group.channel, version=0, drill=group.drill, spurts=0)
            )
    except IntegrityError:
        pass  # another process made it first
    floor = await session.get(PttFloor, group.name, populate_existing=True)
    assert floor is not None
    return floor


async def _swap(
    session: AsyncSession,
    floor: PttFloor,
    *,
    holder: Principal | None,
    at: datetime | None,
    spurts: int,
    stream_id: str | None,
) -> bool:
    seen = floor.version
    result = await session.execute(
        update(PttFloor)
        .where(PttFloor.talkgroup == floor.talkgroup, PttFloor.version == seen)
        .values(
            version=seen + 1,
            holder_id=holder.id if holder else None,
            holder_name=(holder.display_name or holder.name) if holder else "",
            holder_role=holder.role.value if holder else "",
            granted_at=at,
            spurts=spurts,
            stream_id=stream_id,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def _speaker(principal: Principal) -> dict[str, Any]:
    return {**principal.public(), "display_name": principal.display_name or principal.name}


def _expired(floor: PttFloor, now: datetime, max_hold: float) -> bool:
    return floor.granted_at is not None and now - floor.granted_at >= timedelta(seconds=max_hold)


def _holder(floor: PttFloor) -> dict[str, Any]:
    return {"id": floor.holder_id, "name": floor.holder_name, "role": floor.holder_role}


async def _released(
    session: AsyncSession,
    group: Talkgroup,
    holder: dict[str, Any],
    granted_at: datetime | None,
    now: datetime,
    *,
    reason: str,
    stream_id: str | None,
    by: Principal | None = None,
) -> None:
    """Announce and audit the end of a spurt: who spoke, to whom, how long, and the recording's stream."""
    seconds = round((now - granted_at).total_seconds(), 3) if granted_at else None
    to = group.channel if group.name.startswith("stream:") else None
    await audit.record(
        session,
        action="ptt.released",
        actor=by,
        target=group.name,
        detail={
            "holder": holder["id"],
            "reason": reason,
            "seconds": seconds,
            "drill": group.drill,
            "stream_id": stream_id,
            "to": to,
            "granted_at": granted_at,
        },
    )
    state: dict[str, Any] = {
        "talkgroup": group.name,
        "speaker": holder,
        "reason": reason,
        "seconds": seconds,
        "stream_id": stream_id,
    }
    emit(
        session,
        group.channel,
        type="ptt.released",
        id=group.name,
        drill=group.drill,
        by=by.public() if by else None,
        **state,
    )
    if reason != "released" and holder["id"] is not None and names.user(holder["id"]) != group.channel:
        # The speaker who lost the floor hears it on its own channel too (its page stops sending).
        emit(
            session, names.user(holder["id"]), type="ptt.released", id=group.name, drill=group.drill, **state
        )


async def _deny(
    session: AsyncSession,
    principal: Principal,
    talkgroup: str,
    drill: bool,
    ref: object,
    reason: str,
    **extra: Any,
) -> Decision:
    await audit.record(
        session,
        action="ptt.denied",
        actor=principal,
        target=talkgroup,
        outcome="denied",
        detail={"reason": reason, "drill": drill, "holder": (extra.get("holder") or {}).get("id")},
    )
    _answer(session, principal, talkgroup, False, ref, drill, reason=reason, **extra)
    return Decision(False, talkgroup, reason)


def _answer(
    session: AsyncSession,
    principal: Principal,
    talkgroup: str,
    granted: bool,
    ref: object,
    drill: bool,
    **extra: Any,
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
