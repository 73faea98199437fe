"""Pull ingest in the live system: an RTSP/RTMP source on the allow-list becomes a stream like any other.

Only URLs that start with an entry of ``CC_MEDIA_ALLOWED_TARGETS`` are opened (the platform never contacts
an address a user typed in); the row records the URL without its credentials.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth.permissions import Permission, require, require_department
from command_center.auth.roles import Principal
from command_center.db import Database, utcnow
from command_center.errors import CommandCenterError
from command_center.events import unit_of_work
from command_center.hub import Hub
from command_center.settings import Settings
from command_center.streams import targets
from command_center.streams.models import StreamRecord
from command_center.streams.placement import Process
from command_center.streams.schemas import PullRequest
from command_center.streams.service import _incident, announce, translate
from streaming import StreamingError
from streaming.packet_source import SourceError, UnsupportedCodec
from streaming.pull import Puller


class SourceUnavailable(CommandCenterError):
    code = "source_unavailable"
    status_code = 502


class SourceCodecRefused(CommandCenterError):
    code = "unsupported_codec"
    status_code = 422


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


async def start(
    session: AsyncSession,
    puller: Puller,
    *,
    principal: Principal,
    data: PullRequest,
    settings: Settings,
    here: Process | None = None,
) -> StreamRecord:
    require(principal, Permission.incident_command)
    incident = await _incident(session, data.incident_id)
    if incident is not None:
        require_department(principal, set(incident.departments), f"incident {incident.id}")
    source = without_credentials(data.url)
    # Same scheme, host and port as an allow-listed camera platform, and a path under it; the credentials a
    # camera needs are the only part of the typed URL that is not checked against the list.
    targets.resolve(settings, source, schemes=("rtsp", "rtmp"), field="url")
    officer = data.officer or source
    await session.commit()  # opening the source takes a while: hold no database lock meanwhile
    try:
        pull = await puller.start(
            data.url, metadata={"officer": officer, "incident_id": data.incident_id, "pull": source}
        )
    except UnsupportedCodec as exc:
        raise SourceCodecRefused(exc.detail, field="url") from exc
    except SourceError as exc:
        raise SourceUnavailable(f"{source}: {exc.detail}", field="url") from exc
    except StreamingError as exc:
        raise translate(exc) from exc
    row = StreamRecord(
        id=pull.stream_id,
        officer_id=None,
        officer_name=officer,
        department=principal.department,
        incident_id=data.incident_id,
        drill=bool(incident and incident.drill),
        source=source,
        started_at=utcnow(),
        segments=[],
        codecs={"video": pull.codec},
    )
    if here is not None:
        here.claim(row)
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        action="stream.pull",
        actor=principal,
        target=f"stream:{row.id}",
        detail={"source": source, "incident_id": data.incident_id},
    )
    await announce(session, row, "stream.started")
    return row


def continuation(database: Database, hub: Hub | None):  # type: ignore[no-untyped-def]
    """``Puller.on_new_stream``: after a long outage the source feeds a new stream with the old row's data."""

    async def on_new_stream(old_id: str, new_id: str) -> None:
        async with unit_of_work(database, hub) as session:
            old = await session.get(StreamRecord, old_id)
            if old is None:
                return
            row = StreamRecord(
                id=new_id,
                officer_id=None,
                officer_name=old.officer_name,
                department=old.department,
                incident_id=old.incident_id,
                drill=old.drill,
                source=old.source,
                started_at=utcnow(),
                segments=[],
                codecs=dict(old.codecs or {}),
                owner=old.owner,
                owner_url=old.owner_url,
            )
            session.add(row)
            await session.flush()
            await announce(session, row, "stream.started")

    return on_new_stream
