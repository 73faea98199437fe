"""The relay's events, turned into registry updates, hub messages and audit entries.

Health arrives every couple of seconds per stream; it updates the row and goes to the board. A closed
recording segment's SHA-256 goes into the audit log: the chain of custody of the footage.
"""

from __future__ import annotations

import dataclasses
import logging

from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.db import Database
from command_center.events import Publisher, jsonable, unit_of_work
from command_center.streams.models import StreamRecord
from command_center.streams.placement import Process
from command_center.streams.service import announce
from streaming import StreamEvent

log = logging.getLogger(__name__)


class StreamBridge:
    """Implements ``streaming.StreamEvents`` for the application."""

    def __init__(self, database: Database, publisher: Publisher | None, here: Process | None = None) -> None:
        self._database = database
        self._publisher = publisher
        self._here = here

    async def on_stream_event(self, event: StreamEvent) -> None:
        async with unit_of_work(self._database, self._publisher) as session:
            row = await session.get(StreamRecord, event.stream_id)
            if row is None:  # the API has not committed the row yet; the next event will find it
                return
            if self._here is not None and not self._here.holds(row):
                # Another process took the stream over (its publisher came back there): its state is that
                # process's to tell. A segment this process finished is still evidence and is recorded
                # (found in review: the last segment before a takeover never reached the audit log).
                if event.type == "recording_segment_closed":
                    await _record_segment(session, row, event)
                return
            info = event.info
            row.codecs = dict(info.codecs)
            if info.position is not None:
                row.lat, row.lon, row.accuracy = info.position.lat, info.position.lon, info.position.accuracy
                row.position_at = info.position.ts
            if info.health is not None:
                row.health = jsonable(dataclasses.asdict(info.health))
            kind = event.type
            if kind in ("started", "publisher_reconnected"):
                row.connected = True
            elif kind == "publisher_lost":
                row.connected = False
            elif kind == "ended":
                row.connected = False
                row.ended_at = row.ended_at or event.at
            elif kind == "recording_segment_closed":
                await _record_segment(session, row, event)
            if kind != "started":  # the API announced the start in the publishing transaction
                await announce(session, row, f"stream.{kind}")


async def _record_segment(session: AsyncSession, row: StreamRecord, event: StreamEvent) -> None:
    """A finished segment: listed on the stream and its SHA-256 in the audit log (the chain of custody)."""
    row.segments = [*(row.segments or []), jsonable(event.data)]
    await audit.record(
        session,
        action="recording.segment",
        target=f"stream:{row.id}",
        detail={"segment": event.data, "incident_id": row.incident_id},
    )
