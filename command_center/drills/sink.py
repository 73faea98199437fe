"""The live system's side of the engine's ``DrillSink``: store, materialize and publish what a drill does.

Every inject is stored (``drill_injects``) in the same transaction that creates its platform objects, so a
restart replays the log without releasing anything twice. Scores go to ``drill:{id}``, which only
organizers, evaluators and admins may read: participants never learn a score, or an inject, early.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from sqlalchemy import select

from command_center.db import Database
from command_center.drills import ending, materialize
from command_center.drills.models import Drill, DrillInject
from command_center.drills.service import channel, event_log, every_department
from command_center.drills.video import DrillVideos
from command_center.events import Publisher, emit, unit_of_work
from command_center.reviews import service as reviews
from command_center.settings import Settings
from simulation import (
    CheckStatusChanged,
    DrillFinished,
    DrillScore,
    InjectFired,
    LiveEvent,
    Scenario,
    ScoreUpdated,
    score,
)
from streaming import StreamingError

log = logging.getLogger(__name__)


def score_view(score: DrillScore) -> dict[str, Any]:
    return dataclasses.asdict(score)


class LiveSink:
    def __init__(
        self,
        *,
        drill_id: int,
        scenario: Scenario,
        database: Database,
        publisher: Publisher | None,
        settings: Settings,
        videos: DrillVideos | None = None,
    ) -> None:
        self.drill_id = drill_id
        self.scenario = scenario
        self._database = database
        self._publisher = publisher
        self._settings = settings
        self._videos = videos

    async def emit(self, event: LiveEvent) -> None:
        video_for: list[int | None] = []  # a video inject's incident, published once its row committed
        async with unit_of_work(self._database, self._publisher) as session:
            drill = await session.get(Drill, self.drill_id)
            if drill is None:
                return
            if isinstance(event, InjectFired):
                if await self._inject(session, drill, event) and event.inject.kind == "video":
                    video_for.append(await materialize.first_created(session, drill, "incident"))
            elif isinstance(event, CheckStatusChanged):
                emit(
                    session,
                    channel(drill.id),
                    type="drill.check",
                    id=drill.id,
                    drill=True,
                    check_id=event.check_id,
                    status=event.status,
                    rating=event.rating,
                    at=event.at,
                )
            elif isinstance(event, ScoreUpdated):
                drill.score = score_view(event.score)
                emit(
                    session,
                    channel(drill.id),
                    type="drill.score",
                    id=drill.id,
                    drill=True,
                    score=drill.score,
                    at=event.at,
                )
            elif isinstance(event, DrillFinished):
                await self._finish(session, drill, event)
        if self._videos is None:
            return
        if isinstance(event, InjectFired) and video_for:
            try:
                await self._videos.start(
                    drill_id=self.drill_id, inject=event.inject, incident_id=video_for[0]
                )
            except StreamingError:  # the inject's message went out; only its picture is missing
                log.exception("drill %s: the synthetic body-cam could not be published", self.drill_id)
        elif isinstance(event, DrillFinished):
            await self._videos.stop_drill(self.drill_id)

    async def _inject(self, session: Any, drill: Drill, event: InjectFired) -> bool:
        """Store and materialize a newly released inject; False if it was stored before (a replay)."""
        exists = (
            await session.execute(
                select(DrillInject.id).where(
                    DrillInject.drill_id == drill.id, DrillInject.inject_id == event.inject.id
                )
            )
        ).scalar_one_or_none()
        if exists is not None or drill.status != "running":
            return False
        row = DrillInject(
            drill_id=drill.id,
            inject_id=event.inject.id,
            kind=event.inject.kind,
            at=event.record.at,
            created=[],
        )
        session.add(row)
        await session.flush()
        row.created = await materialize.materialize(
            session, drill=drill, scenario=self.scenario, inject=event.inject, settings=self._settings
        )
        emit(
            session,
            channel(drill.id),
            type="drill.inject_released",
            id=drill.id,
            drill=True,
            inject_id=event.inject.id,
            kind=event.inject.kind,
            at=event.record.at,
            created=row.created,
        )
        return True

    async def _finish(self, session: Any, drill: Drill, event: DrillFinished) -> None:
        if drill.status == "running":
            drill.status = "finished"
            drill.finished_at = event.at
        # The final score is the pure function of the stored log, so an action committed just before the
        # end counts even if this process had not fed it to the engine yet.
        _, released, actions = await event_log(session, drill.id)
        final = score(
            self.scenario,
            released,
            actions,
            now=None if event.reason == "completed" else event.at,
            time_scale=drill.time_scale,
        )
        drill.score = score_view(final)
        await ending.end(session, drill, self.scenario, reason=event.reason)
        review = await reviews.open_for_drill(
            session,
            drill=drill,
            scenario=self.scenario,
            score=final,
            finished_at=drill.finished_at or event.at,
        )
        emit(
            session,
            ["board", channel(drill.id)],
            departments=await every_department(session),
            type="drill.finished",
            id=drill.id,
            drill=True,
            status=drill.status,
            reason=event.reason,
            score=drill.score,
            review_id=review.id,
        )
