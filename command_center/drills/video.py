"""``video`` injects: a drill-marked synthetic body-cam stream, published into this process's relay.

The drill runner publishes it after the inject's transaction commits (media negotiation must not hold the
database), registers it like any stream (``streams`` row, ``stream.started`` on the board and the incident),
linked to the drill incident, authored by drill control, so it appears on the video wall as one more
body-cam. It ends when the drill ends (:meth:`DrillVideos.stop_drill`), or with the process.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from command_center.audit import service as audit
from command_center.auth import system
from command_center.db import Database, utcnow
from command_center.events import Publisher, unit_of_work
from command_center.streams.models import StreamRecord
from command_center.streams.service import announce
from simulation import Inject
from streaming import Publisher as MediaPublisher
from streaming import Relay, SceneVideoTrack, UnknownStream

log = logging.getLogger(__name__)

#: What the video wall shows as the "officer" of a drill body-cam: the drill, never a person.
CAMERA_NAME = "演练执法记录仪 drill body-cam"


@dataclass
class _Video:
    stream_id: str
    publisher: MediaPublisher
    task: asyncio.Task[None]


class DrillVideos:
    """The synthetic body-cams of the drills this process runs."""

    def __init__(self, database: Database, publisher: Publisher | None, relay: Relay) -> None:
        self._database = database
        self._publisher = publisher
        self._relay = relay
        self._videos: dict[int, list[_Video]] = {}

    async def start(self, *, drill_id: int, inject: Inject, incident_id: int | None) -> str:
        """Publish the inject's scene into the relay, register the stream; return its id."""
        relay = self._relay
        metadata = {"officer": CAMERA_NAME, "incident_id": incident_id, "drill": True}

        async def signal(offer: dict[str, Any]) -> dict[str, Any]:
            result = await relay.publish(offer["sdp"], stream_id=offer.get("stream_id"), metadata=metadata)
            return {"id": result.stream_id, "sdp": result.answer_sdp, "type": "answer"}

        lines = [inject.content.zh_cn, inject.content.en]
        media = MediaPublisher(signal, lambda: [SceneVideoTrack(lines)])
        stream_id = await media.connect()
        async with unit_of_work(self._database, self._publisher) as session:
            control = await system.drill_control(session)
            row = StreamRecord(
                id=stream_id,
                officer_id=control.id,
                officer_name=CAMERA_NAME,
                department=control.department,
                incident_id=incident_id,
                drill=True,
                source="drill",
                started_at=utcnow(),
                segments=[],
                codecs={},
            )
            session.add(row)
            await audit.record(
                session,
                action="stream.publish",
                actor=control,
                target=f"stream:{stream_id}",
                detail={"incident_id": incident_id, "drill": True, "inject": inject.id},
            )
            await session.flush()
            await announce(session, row, "stream.started")
        task = asyncio.create_task(media.run(), name=f"drill-{drill_id}-video-{stream_id}")
        self._videos.setdefault(drill_id, []).append(_Video(stream_id, media, task))
        log.info("drill %s: synthetic body-cam %s for incident %s", drill_id, stream_id, incident_id)
        return stream_id

    async def stop_drill(self, drill_id: int) -> None:
        """End the drill's body-cams: the publisher stops, the relay ends the stream for every viewer."""
        for video in self._videos.pop(drill_id, []):
            video.task.cancel()
            await asyncio.gather(video.task, return_exceptions=True)
            await video.publisher.close()
            try:
                await self._relay.stop(video.stream_id)
            except UnknownStream:  # the relay already ended it (publisher gone for longer than the grace)
                pass

    async def close(self) -> None:
        for drill_id in list(self._videos):
            await self.stop_drill(drill_id)
