"""Streams: publish, view, position, stop, cascade; who may do each, and the audit of who watched.

The relay (``streaming.Relay``) moves the media; this module decides who may publish and watch, links a
stream to an incident and an officer, and keeps the registry rows every process reads.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth.permissions import (
    Permission,
    department_scope,
    has_permission,
    require,
    require_department,
)
from command_center.auth.roles import Principal
from command_center.db import utcnow
from command_center.errors import BadRequest, CommandCenterError, Forbidden, NotFound, ServiceUnavailable
from command_center.events import emit
from command_center.incidents import service as incidents
from command_center.incidents.models import Incident
from command_center.streams.models import StreamRecord
from command_center.streams.placement import Process
from command_center.streams.schemas import PublishOffer
from streaming import (
    BadSdp,
    CodecMismatch,
    Relay,
    RelayFull,
    SignalingError,
    StreamingError,
    UnknownStream,
    ViewResult,
)


class Sources(Protocol):
    """What feeds streams besides publishers (pulls, cascades); stopping a stream stops its source."""

    async def stop(self, stream_id: str) -> Any: ...


class CodecRefused(BadRequest):
    """A well-formed offer whose media the relay cannot take without transcoding (WHIP/WHEP: 406)."""

    code = "codec_mismatch"


class RelayBusy(ServiceUnavailable):
    """This process's relay is full; ``headers`` carries ``Retry-After`` (RFC 9725 section 4.6)."""

    code = "relay_full"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after)}


def translate(exc: StreamingError) -> CommandCenterError:
    """Map the media library's errors onto the API's error shape."""
    if isinstance(exc, UnknownStream):
        return NotFound(f"stream {exc} is not live (it ended, or never existed)", field="stream_id")
    if isinstance(exc, RelayFull):
        return RelayBusy(exc.detail, exc.retry_after)
    if isinstance(exc, CodecMismatch):
        return CodecRefused(f"unusable SDP offer: {exc}", field="sdp")
    if isinstance(exc, BadSdp):
        return BadRequest(f"unusable SDP offer: {exc}", field="sdp")
    if isinstance(exc, SignalingError):
        return ServiceUnavailable(f"the source did not answer: {exc}")
    return BadRequest(str(exc))


def commands(principal: Principal) -> bool:
    """Whether the caller may stop others' streams and viewing sessions (the command room)."""
    return has_permission(principal, Permission.incident_command)


def view(row: StreamRecord) -> dict[str, Any]:
    position = (
        {"lat": row.lat, "lon": row.lon, "accuracy": row.accuracy, "at": row.position_at}
        if row.lat is not None
        else None
    )
    return {
        "id": row.id,
        "officer": row.officer_name,
        "officer_id": row.officer_id,
        "department": row.department,
        "incident_id": row.incident_id,
        "drill": row.drill,
        "source": row.source,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "connected": row.connected,
        "position": position,
        "health": row.health,
        "codecs": row.codecs,
        "segments": len(row.segments or []),
    }


def channels(row: StreamRecord) -> list[str]:
    return ["board", *([f"incident:{row.incident_id}"] if row.incident_id else [])]


async def audience(session: AsyncSession, row: StreamRecord) -> list[str]:
    """The departments whose boards show this stream: its incident's, or the officer's own."""
    incident = await _incident(session, row.incident_id)
    return list(incident.departments) if incident else [row.department]


async def announce(session: AsyncSession, row: StreamRecord, type: str) -> None:
    """Tell the stream's channels, and the boards of the departments that may watch it, what changed."""
    emit(
        session,
        channels(row),
        departments=await audience(session, row),
        type=type,
        id=row.id,
        drill=bool(row.drill),  # a row not yet flushed has no column default applied
        stream=view(row),
    )


async def _incident(session: AsyncSession, incident_id: int | None) -> Incident | None:
    return await incidents.get(session, incident_id) if incident_id is not None else None


async def can_view(session: AsyncSession, principal: Principal, row: StreamRecord) -> bool:
    scope = department_scope(principal)
    if scope is None:
        return True
    incident = await _incident(session, row.incident_id)
    departments = set(incident.departments) if incident else {row.department}
    if scope & departments:
        return True
    # A push-to-talk spurt on the floor of a talkgroup is heard by the talkgroup's members (a task force's
    # departments), whatever the speaker's own department.
    from command_center.ptt.talkgroups import may_hear  # the ptt package builds on this module

    return await may_hear(session, principal, row.id)


async def get(session: AsyncSession, stream_id: str) -> StreamRecord:
    row = await session.get(StreamRecord, stream_id)
    if row is None:
        raise NotFound(f"stream {stream_id} does not exist", field="stream_id")
    return row


async def get_visible(session: AsyncSession, principal: Principal, stream_id: str) -> StreamRecord:
    require(principal, Permission.stream_view)
    row = await get(session, stream_id)
    if not await can_view(session, principal, row):
        raise Forbidden(f"department '{principal.department}' does not take part in stream {stream_id}")
    return row


async def list_streams(
    session: AsyncSession,
    principal: Principal,
    *,
    incident_id: int | None = None,
    include_ended: bool = False,
) -> list[StreamRecord]:
    """Live streams (ended ones too with ``include_ended``, for their recordings), as the caller may see."""
    require(principal, Permission.stream_view)
    query = select(StreamRecord).order_by(StreamRecord.started_at)
    if not include_ended:
        query = query.where(StreamRecord.ended_at.is_(None))
    if incident_id is not None:
        query = query.where(StreamRecord.incident_id == incident_id)
    rows = (await session.execute(query)).scalars().all()
    if not include_ended:  # what to watch now (the video wall, the board); recordings keep every stream
        rows = [r for r in rows if not talk(r)]
    return [r for r in rows if await can_view(session, principal, r)]


def talk(row: StreamRecord) -> bool:
    """An audio-only stream: a push-to-talk spurt or talk-back, heard through its floor, never a wall tile."""
    codecs = row.codecs or {}
    return "audio" in codecs and "video" not in codecs


async def publish(
    session: AsyncSession,
    relay: Relay,
    *,
    principal: Principal,
    data: PublishOffer,
    here: Process | None = None,
) -> tuple[str, str]:
    """Accept a field officer's offer (new stream, or a reconnection to the officer's own live stream)."""
    require(principal, Permission.stream_publish)
    incident = await _incident(session, data.incident_id)
    if incident is not None:
        require_department(principal, set(incident.departments), f"incident {incident.id}")
    adopt = False
    if data.stream_id is not None:
        existing = await get(session, data.stream_id)
        if existing.officer_id != principal.id:
            raise Forbidden(f"stream {data.stream_id} belongs to another officer")
        # A stream whose process restarted keeps its id when its publisher comes back (never one that
        # was stopped on purpose).
        adopt = here is not None and not existing.stopped and existing.owner != here.id
    metadata = {"officer": principal.name, "officer_id": principal.id, "incident_id": data.incident_id}
    await session.commit()  # negotiation takes a while: hold no database lock meanwhile
    try:
        result = await relay.publish(data.sdp, stream_id=data.stream_id, metadata=metadata, adopt=adopt)
    except StreamingError as exc:
        raise translate(exc) from exc
    # Known from the negotiation: the live list tells a talk spurt (audio only) from the start.
    codecs = dict(relay.get(result.stream_id).codecs)
    row = await session.get(StreamRecord, result.stream_id)
    if row is None:
        row = StreamRecord(
            id=result.stream_id,
            officer_id=principal.id,
            officer_name=principal.display_name or principal.name,
            department=principal.department,
            incident_id=data.incident_id,
            drill=bool(incident and incident.drill),
            started_at=utcnow(),
            segments=[],
            codecs=codecs,
        )
        if here is not None:
            here.claim(row)
        session.add(row)
        await audit.record(
            session,
            action="stream.publish",
            actor=principal,
            target=f"stream:{row.id}",
            detail={"incident_id": data.incident_id},
        )
    else:
        row.connected = True
        row.ended_at = None
        row.codecs = codecs
        if here is not None:
            here.claim(row)
        await audit.record(session, action="stream.reconnect", actor=principal, target=f"stream:{row.id}")
    await session.flush()
    await announce(session, row, "stream.started")
    return result.stream_id, result.answer_sdp


async def viewable(session: AsyncSession, principal: Principal, stream_id: str) -> StreamRecord:
    """The row of a live stream the caller may watch (404 when it ended, 403 when not theirs)."""
    row = await get_visible(session, principal, stream_id)
    if row.ended_at is not None:
        raise NotFound(f"stream {stream_id} has ended; its recordings stay", field="stream_id")
    return row


async def watch(
    session: AsyncSession, relay: Relay, *, principal: Principal, stream_id: str, offer_sdp: str
) -> str:
    """Answer a viewer's offer; every view is audited (who watched which stream, when)."""
    return (
        await open_view(session, relay, principal=principal, stream_id=stream_id, offer_sdp=offer_sdp)
    ).answer_sdp


async def open_view(
    session: AsyncSession, relay: Relay, *, principal: Principal, stream_id: str, offer_sdp: str
) -> ViewResult:
    """``watch``, keeping the viewer session's id (WHEP's session resource)."""
    row = await viewable(session, principal, stream_id)
    await session.commit()  # hold no database lock during the negotiation
    try:
        result = await relay.open_view(stream_id, offer_sdp)
    except StreamingError as exc:
        raise translate(exc) from exc
    await record_view(session, principal, row)
    return result


async def record_view(session: AsyncSession, principal: Principal, row: StreamRecord) -> None:
    await audit.record(
        session,
        action="stream.view",
        actor=principal,
        target=f"stream:{row.id}",
        detail={"incident_id": row.incident_id, "drill": row.drill},
    )


async def update_position(
    session: AsyncSession,
    relay: Relay,
    *,
    principal: Principal,
    stream_id: str,
    lat: float,
    lon: float,
    accuracy: float | None,
) -> StreamRecord:
    row = await get(session, stream_id)
    if row.officer_id != principal.id:
        raise Forbidden(f"only the officer publishing stream {stream_id} reports its position")
    try:
        relay.update_position(stream_id, lat, lon, accuracy)
    except StreamingError as exc:
        raise translate(exc) from exc
    return row


async def stop(
    session: AsyncSession,
    relay: Relay,
    *,
    principal: Principal,
    stream_id: str,
    sources: Sources | None = None,
) -> StreamRecord:
    row = await get(session, stream_id)
    if row.officer_id != principal.id:
        require(principal, Permission.incident_command)
    row.stopped = True  # stopped on purpose: no reconnection or restart brings it back
    row.cascade_secret = None
    if sources is not None:
        await sources.stop(stream_id)  # a pull or cascade must not feed a stream that was stopped
    try:
        await relay.stop(stream_id)
    except UnknownStream:
        pass
    row.ended_at = row.ended_at or utcnow()
    row.connected = False
    await audit.record(session, action="stream.stop", actor=principal, target=f"stream:{stream_id}")
    await announce(session, row, "stream.ended")
    return row


async def end_earlier_runs(session: AsyncSession, here: Process, *, same_url: bool) -> list[str]:
    """End the streams left live by processes that are gone (only those at ``here.url`` if ``same_url``).

    Called at start (``runtime.start`` decides which are known dead): a server killed mid-stream (kill -9,
    out of memory, power cut) left rows that nothing else would end, which the video wall listed as live
    for ever and whose viewers were redirected to the dead process (a loop when that was this very URL).
    A publisher that comes back reopens its stream (``publish`` clears ``ended_at``); a cascade resumes.
    """
    query = select(StreamRecord).where(StreamRecord.ended_at.is_(None), StreamRecord.owner != here.id)
    if same_url:
        query = query.where(StreamRecord.owner_url == here.url)
    rows = list((await session.execute(query)).scalars())
    now = utcnow()
    for row in rows:
        row.ended_at, row.connected = now, False
        await audit.record(
            session,
            action="stream.orphan_ended",
            target=f"stream:{row.id}",
            detail={"owner": row.owner, "reason": "the process holding it is gone"},
        )
        await announce(session, row, "stream.ended")
    return [row.id for row in rows]


def recordings(row: StreamRecord) -> list[dict[str, Any]]:
    return list(row.segments or [])
