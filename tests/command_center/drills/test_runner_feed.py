"""The runner feeds every responder's action to the live engine once, and lets go of a drill it lost.

Found in review: the feed kept a bare high-water id, which skips an action committed after a later one on
PostgreSQL; and a runner that stalled past its lease kept running a drill another process had taken over.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from command_center.db import Database, utcnow
from command_center.drills.models import Drill
from command_center.drills.runner import SETTLE, DrillRunner, _Running
from command_center.incidents.models import Incident, IncidentEvent
from command_center.settings import Settings
from tests.conftest import TEST_AUDIT_KEY

pytestmark = pytest.mark.timeout(60)


class RecordingLive:
    """Stands in for ``LiveDrill``: what it was told."""

    def __init__(self) -> None:
        self.observed: list[str] = []
        self.stopped: str | None = None

    def observe(self, action: Any) -> None:
        self.observed.append(action.actor)

    def stop(self, reason: str) -> None:
        self.stopped = reason


def _action(incident_id: int, who: str) -> IncidentEvent:
    return IncidentEvent(
        incident_id=incident_id,
        at=utcnow(),
        action="report.phone",
        actor_id=7,
        actor_name=who,
        actor_role="field_officer",
        actor_department="section",
        detail={},
        drill=True,
    )


async def _running_drill(database: Database, now: datetime, **values: Any) -> tuple[int, int]:
    async with database.session() as session:
        drill = Drill(
            status="running",
            commitment="0" * 64,
            sealed_plan="{}",
            window_start=now,
            window_end=now + timedelta(hours=1),
            start_at=now,
            started_at=now,
            **values,
        )
        session.add(drill)
        await session.flush()
        incident = Incident(
            title="演练 drill",
            category="collective_petition",
            stage="information_report",
            first_department="section",
            started_at=now,
            drill=True,
            drill_id=drill.id,
        )
        session.add(incident)
        await session.flush()
        return drill.id, incident.id


def _track(runner: DrillRunner, drill_id: int, live: RecordingLive) -> asyncio.Task[None]:
    engine = asyncio.create_task(asyncio.Event().wait())  # the drill's engine task, alive until cancelled
    runner.running[drill_id] = _Running(live=live, task=engine)  # type: ignore[arg-type]
    return engine


# SQLite takes the write lock at BEGIN: ids follow commit order there, and this interleaving cannot happen.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_action_that_commits_after_a_later_one_is_still_fed(settings: Settings) -> None:
    database = Database(settings.database_url, audit_key=TEST_AUDIT_KEY)
    now = [utcnow()]
    runner = DrillRunner(database, None, settings, clock=lambda: now[0])
    try:
        lease = now[0] + timedelta(hours=1)
        drill_id, incident_id = await _running_drill(
            database, now[0], runner=runner.runner_id, lease_until=lease
        )
        live = RecordingLive()
        engine = _track(runner, drill_id, live)
        async with database.sessionmaker() as slow:
            slow.add(_action(incident_id, "officer A"))
            await slow.flush()  # A's report has its id; its commit waits (for the outbox lock, say)
            async with database.session() as fast:
                fast.add(_action(incident_id, "officer B"))  # a later id, committed first
            await runner._feed(drill_id, runner.running[drill_id])
            assert live.observed == ["officer B"]
            await slow.commit()
        for _ in range(3):
            now[0] += timedelta(seconds=1)
            await runner._feed(drill_id, runner.running[drill_id])
        assert sorted(live.observed) == ["officer A", "officer B"], "A's report never reached the engine"
        # Once the window has passed, what was fed is forgotten, and nothing is fed twice.
        now[0] += SETTLE + timedelta(seconds=1)
        await runner._feed(drill_id, runner.running[drill_id])
        item = runner.running[drill_id]
        assert item.seen == set() and item.settled_id > 0
        async with database.session() as session:
            session.add(_action(incident_id, "officer C"))
        await runner._feed(drill_id, item)
        assert sorted(live.observed) == ["officer A", "officer B", "officer C"]
        engine.cancel()
    finally:
        await database.dispose()


async def test_a_runner_that_lost_its_lease_lets_the_drill_go(settings: Settings) -> None:
    database = Database(settings.database_url, audit_key=TEST_AUDIT_KEY)
    t0 = utcnow()
    now = [t0]
    first = DrillRunner(database, None, settings, clock=lambda: now[0])
    second = DrillRunner(database, None, settings, clock=lambda: now[0])
    try:
        lease = timedelta(seconds=settings.drill_lease_seconds)
        drill_id, _ = await _running_drill(database, t0, runner=first.runner_id, lease_until=t0 + lease)
        live = RecordingLive()
        engine = _track(first, drill_id, live)
        now[0] = t0 + lease + timedelta(seconds=5)  # the first process stalled past its lease
        assert await second._claim(now[0]) == [drill_id]  # and the second resumes the drill
        now[0] += timedelta(seconds=1)
        await first.run_once()  # the first wakes: its renewal finds the drill no longer its own
        assert drill_id not in first.running, "two engines run one drill"
        await asyncio.gather(engine, return_exceptions=True)
        assert engine.cancelled()
        assert live.stopped is None, "the engine was cancelled, not stopped: it announces nothing"
        async with database.session() as session:
            drill = await session.get(Drill, drill_id)
            assert drill is not None and drill.runner == second.runner_id
    finally:
        await database.dispose()
