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
from command_center.deadlines import service as deadlines
from command_center.drills import materialize
from command_center.drills.models import Drill, DrillInject
from command_center.drills.service import channel, every_department, incident_ids
from command_center.events import Publisher, emit, unit_of_work
from command_center.incidents import service as incidents
from command_center.incidents.models import Incident
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
)

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
    ) -> None:
        self.drill_id = drill_id
        self.scenario = scenario
        self._database = database
        self._publisher = publisher
        self._settings = settings

    async def emit(self, event: LiveEvent) -> None:
        async with unit_of_work(self._database, self._publisher) as session:
            drill = await session.get(Drill, self.drill_id)
            if drill is None:
                return
            if isinstance(event, InjectFired):
                await self._inject(session, drill, event)
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

    async def _inject(self, session: Any, drill: Drill, event: InjectFired) -> None:
        exists = (
            await session.execute(
                select(DrillInject.id).where(
                    DrillInject.drill_id == drill.id, DrillInject.inject_id == event.inject.id
                )
            )
        ).scalar_one_or_none()
        if exists is not None or drill.status != "running":
            return
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

    async def _finish(self, session: Any, drill: Drill, event: DrillFinished) -> None:
        if drill.status == "running":
            drill.status = "finished"
            drill.finished_at = event.at
        drill.score = score_view(event.score)
        for incident in (
            await session.execute(
                select(Incident).where(Incident.drill_id == drill.id, Incident.closed_at.is_(None))
            )
        ).scalars():
            incident.closed_at = event.at
            incidents.announce(session, incident, "incident.closed", reason="drill_finished")
        for incident_id in await incident_ids(session, drill.id):
            await deadlines.cancel(session, subject=f"incident:{incident_id}", at=event.at)
        review = await reviews.open_for_drill(
            session,
            drill=drill,
            scenario=self.scenario,
            score=event.score,
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
