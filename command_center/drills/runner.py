"""Run live drills: start them at their sealed time, feed them the responders' actions, resume after restart.

One asyncio task per process ticks every second. A drill is run by the process holding its lease (a row
update that only one process can win); a process that dies stops renewing and another one resumes the drill
from the stored log: the released injects and the incident timelines. Actions are read from the timelines,
so they count with their own wall-clock times whichever process recorded them.

At the start every role and department the scenario addresses is told on its ``user:{id}`` channel
(drills/notices.py); ``video`` injects play from this process's relay (drills/video.py).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from command_center.db import Database, utcnow
from command_center.drills import materialize, notices, service
from command_center.drills.models import Drill
from command_center.drills.sink import LiveSink
from command_center.drills.video import DrillVideos
from command_center.events import Publisher, emit, unit_of_work
from command_center.periodic import Periodic
from command_center.settings import Settings
from simulation import InjectReleased, LiveDrill
from streaming import Relay

log = logging.getLogger(__name__)


#: How long a responder's action may take from its INSERT to its COMMIT. On PostgreSQL an event's id comes
#: from a sequence at INSERT, so an action whose commit waits (for the outbox or the audit lock) behind a
#: later one has the smaller id: the feed re-reads this far behind what it has seen, by the runner's clock.
SETTLE = timedelta(seconds=60)


@dataclass
class _Running:
    live: LiveDrill
    task: asyncio.Task[object]
    #: Every event with an id up to here has been fed (or never will commit); above it, ``seen`` says which.
    settled_id: int = 0
    stopping: bool = False
    seen: set[int] = field(default_factory=set)
    #: ``(runner clock, newest id seen)`` per feed of the last ``SETTLE``: what ``settled_id`` moves up to.
    marks: deque[tuple[datetime, int]] = field(default_factory=deque)

    def take_new(self, events: list[Any]) -> list[Any]:
        """The events not fed before, remembered as fed."""
        fresh = [e for e in events if e.id not in self.seen]
        self.seen.update(e.id for e in fresh)
        return fresh

    def settle(self, now: datetime) -> None:
        """Note the newest id seen; forget the ids that fell below the mark of ``SETTLE`` ago."""
        self.marks.append((now, max(self.seen, default=self.settled_id)))
        moved = False
        while self.marks and self.marks[0][0] <= now - SETTLE:
            self.settled_id = max(self.settled_id, self.marks.popleft()[1])
            moved = True
        if moved:
            self.seen = {i for i in self.seen if i > self.settled_id}


def _now() -> datetime:
    """The clock, looked up when called: a test that replaces ``utcnow`` moves the runner's time too."""
    return utcnow()


class DrillRunner:
    def __init__(
        self,
        database: Database,
        publisher: Publisher | None,
        settings: Settings,
        *,
        tick: float = 1.0,
        clock: Callable[[], datetime] | None = None,
        relay: Relay | None = None,
    ) -> None:
        self._database = database
        self._publisher = publisher
        self._settings = settings
        self._tick = tick
        self._clock = clock or _now
        self.videos = DrillVideos(database, publisher, relay) if relay is not None else None
        self.runner_id = uuid.uuid4().hex[:16]
        self._lease = timedelta(seconds=settings.drill_lease_seconds)
        self.running: dict[int, _Running] = {}
        self._periodic = Periodic("drill-runner", self.run_once, tick)

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
        for item in self.running.values():
            item.task.cancel()
        for drill_id, item in self.running.items():
            await asyncio.gather(item.task, return_exceptions=True)
            _report(drill_id, item.task)
        if self.videos is not None:
            await self.videos.close()
        if self.running:
            # A clean shutdown hands its drills over at once; a crash lets the lease run out instead.
            try:
                async with self._database.session() as session:
                    await session.execute(
                        update(Drill)
                        .where(Drill.runner == self.runner_id)
                        .values(runner=None, lease_until=None)
                    )
            except SQLAlchemyError:
                log.warning(
                    "could not hand drills over at shutdown; their leases run out instead", exc_info=True
                )
        self.running.clear()

    async def run_once(self) -> None:
        """Start or resume the drills this process wins, feed and supervise the ones it runs."""
        now = self._clock()
        for drill_id in await self._claim(now):
            if drill_id not in self.running:
                await self._launch(drill_id, now)
        for drill_id, item in list(self.running.items()):
            if item.task.done():
                self.running.pop(drill_id)
                _report(drill_id, item.task)
                continue
            await self._feed(drill_id, item)

    async def _claim(self, now: datetime) -> list[int]:
        # Looked up without the write lock: on SQLite a write transaction every tick, with nothing to claim
        # on almost every one, queued each request's write behind it. The UPDATE below re-checks the same
        # conditions atomically, so a drill taken by another process meanwhile is simply not won.
        due_query = select(Drill.id).where(
            or_(
                (Drill.status == "scheduled") & (Drill.start_at <= now),
                (Drill.status == "running")
                & or_(Drill.runner.is_(None), Drill.runner == self.runner_id, Drill.lease_until < now),
            )
        )
        async with self._database.read_session() as reader:
            due = (await reader.execute(due_query)).scalars().all()
        if not due:
            return []
        async with unit_of_work(self._database, self._publisher) as session:
            won = []
            for drill_id in due:
                result = cast(
                    "CursorResult[Any]",
                    await session.execute(
                        update(Drill)
                        .where(
                            Drill.id == drill_id,
                            Drill.status.in_(("scheduled", "running")),
                            or_(
                                Drill.runner.is_(None),
                                Drill.runner == self.runner_id,
                                Drill.lease_until < now,
                            ),
                        )
                        .values(runner=self.runner_id, lease_until=now + self._lease)
                    ),
                )
                if result.rowcount == 1:
                    won.append(drill_id)
                    drill = await session.get(Drill, drill_id)
                    assert drill is not None
                    await session.refresh(drill)
                    if drill.status == "scheduled":
                        drill.status = "running"
                        drill.started_at = now
                        plan = service.plan_of(drill)
                        scenario = await service.scenario_of(session, drill)
                        drill.scenario_key = plan.scenario_key
                        drill.rubric_version = scenario.rubric_version
                        emit(
                            session,
                            service.channel(drill_id),
                            type="drill.started",
                            id=drill_id,
                            drill=True,
                            plan=plan.__dict__,
                            commitment=drill.commitment,
                        )
                        # Everyone the drill addresses learns that a drill runs, not what comes next.
                        users = await materialize.recipients(session, notices.addressed(scenario))
                        notices.started(session, drill, users)
                        # Every board is told that a drill is on (not which one or what comes): the
                        # pages sound the drill alert, as they do for its end.
                        emit(
                            session,
                            "board",
                            departments=await service.every_department(session),
                            type="drill.started",
                            id=drill_id,
                            drill=True,
                        )
            return won

    async def _launch(self, drill_id: int, now: datetime) -> None:
        async with self._database.session() as session:
            drill = await service.get(session, drill_id)
            scenario = await service.scenario_of(session, drill)
            plan = service.plan_of(drill)
            released = [InjectReleased(r.inject_id, r.at) for r in await service.released(session, drill_id)]
            events = await service.actions_since(session, drill_id)
        assert drill.started_at is not None
        sink = LiveSink(
            drill_id=drill_id,
            scenario=scenario,
            database=self._database,
            publisher=self._publisher,
            settings=self._settings,
            videos=self.videos,
        )
        live = LiveDrill(
            scenario,
            seed=plan.seed,
            started_at=drill.started_at,
            sink=sink,
            time_scale=drill.time_scale,
            clock=self._clock,
            released=released,
            actions=[service.observed(e) for e in events if not e.action.startswith("incident.")],
            tick_seconds=min(0.5, self._tick),
        )
        item = _Running(live=live, task=asyncio.create_task(live.run(), name=f"drill-{drill_id}"))
        item.take_new(events)  # replayed above; an action committing late still comes in through _feed
        self.running[drill_id] = item
        log.info(
            "drill %s running in this process (%d injects, %d actions replayed)",
            drill_id,
            len(released),
            len(events),
        )

    async def _feed(self, drill_id: int, item: _Running) -> None:
        async with self._database.session() as session:
            drill = await service.get(session, drill_id)
            events = await service.actions_since(session, drill_id, item.settled_id)
            for event in item.take_new(events):
                if not event.action.startswith("incident."):
                    item.live.observe(service.observed(event))
            item.settle(self._clock())
            if drill.status == "stopped" and not item.stopping:
                item.stopping = True
                item.live.stop(drill.stop_reason or "stopped")
            elif drill.status in ("running", "stopped"):
                renewed = cast(
                    "CursorResult[Any]",
                    await session.execute(
                        update(Drill)
                        .where(Drill.id == drill_id, Drill.runner == self.runner_id)
                        .values(lease_until=self._clock() + self._lease)
                    ),
                )
                if renewed.rowcount == 0:
                    self._let_go(drill_id, item)

    def _let_go(self, drill_id: int, item: _Running) -> None:
        """Stop running a drill another process has taken over (this one stalled past its lease).

        Its engine is cancelled without a word: the new owner resumed the drill from the stored log and
        speaks for it now; two engines would announce every check, score and the end twice.
        """
        log.warning("drill %s was taken over by another process (lease lapsed); stopping here", drill_id)
        item.task.cancel()
        self.running.pop(drill_id, None)


def _report(drill_id: int, task: asyncio.Task[object]) -> None:
    """Log how a drill's task ended if it failed: its error must reach the log, not vanish with it."""
    if not task.cancelled() and task.exception() is not None:
        log.error("drill %s stopped with an error", drill_id, exc_info=task.exception())
