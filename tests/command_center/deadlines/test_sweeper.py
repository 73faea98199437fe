"""The deadline engine survives restarts and never alerts twice when several processes sweep."""

import asyncio
from datetime import timedelta

from sqlalchemy import event

from command_center.app import create_app, deadline_handlers
from command_center.auth.roles import Principal, Role
from command_center.db import Database, utcnow
from command_center.deadlines.runner import DeadlineSweeper
from command_center.drills.runner import DrillRunner
from command_center.events import unit_of_work
from command_center.incidents import service as incidents
from command_center.incidents.schemas import IncidentCreate
from command_center.outbox import OutboxRelay
from command_center.settings import Settings

DUTY = Principal(id=3, name="duty", role=Role.duty_officer, department="section")


class Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[str, dict]] = []  # type: ignore[type-arg]

    async def publish(self, channel: str, data: dict, *, id: str | None = None) -> None:  # type: ignore[type-arg]
        self.messages.append((channel, data))

    def alerts(self) -> list[tuple[str, int]]:
        return [
            (d["type"], d["id"])
            for c, d in self.messages
            if c == "board" and d["type"].startswith("deadline.")
        ]


async def _open_incident(database: Database, settings: Settings) -> int:
    async with unit_of_work(database, None) as session:
        incident, _ = await incidents.create(
            session,
            principal=DUTY,
            settings=settings,
            data=IncidentCreate(title="堵门", category="extreme_behaviour"),
        )
        return incident.id


async def test_deadlines_survive_a_restart(settings: Settings) -> None:
    settings = settings.model_copy(update={"background_tasks": False})
    first = create_app(settings)
    async with first.router.lifespan_context(first):
        await _open_incident(first.state.db, settings)
    # The server is down for 40 minutes; a new one finds both missed reports from the stored times alone.
    later = utcnow() + timedelta(minutes=40)
    second = create_app(settings)
    async with second.router.lifespan_context(second):
        recorder = second.state.hub = Recorder()  # what the app's outbox relay publishes
        sweeper = DeadlineSweeper(
            second.state.db, recorder, interval=1, on_missed=deadline_handlers(), clock=lambda: later
        )
        assert await sweeper.run_once() == 2
        await second.state.outbox.drain()
        assert sorted(t for t, _ in recorder.alerts()) == ["deadline.missed", "deadline.missed"]
        assert await sweeper.run_once() == 0


async def test_concurrent_sweepers_alert_exactly_once(settings: Settings) -> None:
    """Several processes sweep the same database at the same moment; each alert is won by exactly one."""
    databases = [Database.from_settings(settings) for _ in range(4)]
    try:
        for _ in range(5):
            await _open_incident(databases[0], settings)
        recorders = [Recorder() for _ in databases]
        now = utcnow() + timedelta(minutes=29)  # both warnings are due; the phone report is also missed
        sweepers = [
            DeadlineSweeper(db, rec, interval=1, on_missed=deadline_handlers(), clock=lambda: now)
            for db, rec in zip(databases, recorders, strict=True)
        ]
        won = await asyncio.gather(*(s.run_once() for s in sweepers))
        # What they committed leaves through the outbox, whichever process's relay sends it.
        relayed = Recorder()
        await OutboxRelay(databases[1], lambda: relayed).drain()
        alerts = relayed.alerts()
        assert sum(won) == len(alerts) == 10  # 5 phone reports missed + 5 written-report warnings
        assert len(set(alerts)) == len(alerts)
    finally:
        for db in databases:
            await db.dispose()


def _statements_of(database: Database) -> list[str]:
    """Every SQL statement the database's (write) engine sends from now on, upper-cased."""
    statements: list[str] = []
    event.listen(
        database.engine.sync_engine,
        "before_cursor_execute",
        lambda conn, cursor, statement, *rest: statements.append(statement.lstrip().upper()),
    )
    return statements


async def test_a_sweep_with_nothing_due_takes_no_write_lock(settings: Settings) -> None:
    """On SQLite every write transaction holds the one write lock that requests queue for: a sweep that finds
    nothing (almost every sweep) must not begin one. A due deadline still gets its transaction and alert."""
    database = Database.from_settings(settings)
    statements = _statements_of(database)
    try:
        await _open_incident(database, settings)
        statements.clear()
        now = utcnow()
        sweeper = DeadlineSweeper(
            database, Recorder(), interval=1, on_missed=deadline_handlers(), clock=lambda: now
        )
        assert await sweeper.run_once() == 0
        assert [s for s in statements if s.startswith(("BEGIN IMMEDIATE", "UPDATE", "INSERT"))] == []
        now += timedelta(minutes=11)  # the 10-minute phone report is missed
        assert await sweeper.run_once() >= 1
        assert any(s.startswith("UPDATE") for s in statements)
    finally:
        await database.dispose()


async def test_a_drill_tick_with_nothing_to_claim_takes_no_write_lock(settings: Settings) -> None:
    """The drill runner ticks every second; with no drill due (nearly always) it begins no write
    transaction."""
    database = Database.from_settings(settings)
    statements = _statements_of(database)
    try:
        await DrillRunner(database, Recorder(), settings).run_once()
        assert [s for s in statements if s.startswith(("BEGIN IMMEDIATE", "UPDATE", "INSERT"))] == []
    finally:
        await database.dispose()
