"""The transactional outbox (DESIGN.md section 4), in process on SQLite and PostgreSQL.

The real-process cases (Redis stopped, a server killed with SIGKILL, two servers) are in
``tests/command_center/hub/test_outbox_processes.py``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select

from command_center.db import Database, utcnow
from command_center.events import emit
from command_center.hub import BrokerUnavailable
from command_center.outbox import OutboxEvent, OutboxRelay
from tests.conftest import token_for

pytestmark = pytest.mark.timeout(60)

INCIDENT = {"title": "东门聚集", "category": "skip_level_petition", "headcount": 12}


class GatedHub:
    """A hub whose broker is down until ``up`` is set: publishes wait (as on a dead Redis) or fail."""

    def __init__(self, *, fail: bool = False) -> None:
        self.up = asyncio.Event()
        self.fail = fail
        self.messages: list[tuple[str, dict[str, Any], str | None]] = []
        self.attempts = 0

    async def publish(self, channel: str, data: dict[str, Any], *, id: str | None = None) -> None:
        self.attempts += 1
        if not self.up.is_set():
            if self.fail:
                raise BrokerUnavailable("Redis unavailable during publish: connection refused")
            await self.up.wait()
        self.messages.append((channel, data, id))


async def _rows(app: Any) -> list[OutboxEvent]:
    async with app.state.db.session() as session:
        return list((await session.execute(select(OutboxEvent).order_by(OutboxEvent.id))).scalars())


async def _until(predicate: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_events_are_written_with_the_change_and_only_if_it_commits(app) -> None:  # type: ignore[no-untyped-def]
    hub = app.state.hub = GatedHub()
    await app.state.outbox.stop()
    relay = OutboxRelay(app.state.db, lambda: hub, poll_seconds=3600)  # only a commit can wake it in time
    relay.start()
    with pytest.raises(RuntimeError):
        async with app.state.db.session() as session:
            emit(session, "ledger", type="ledger.warning_raised", id=1)
            raise RuntimeError("the change fails")
    assert await _rows(app) == []
    async with app.state.db.session() as session:
        emit(session, ["board", "incident:7"], type="incident.created", id=7, departments=["police"])
    rows = await _rows(app)
    assert [r.channel for r in rows] == ["board", "incident:7", "board:police"]
    assert rows[0].data == {"type": "incident.created", "id": 7, "drill": False}
    hub.up.set()
    await _until(lambda: len(hub.messages) == 3)  # woken by the commit, not by the poll
    assert [(c, i) for c, _, i in hub.messages] == [(r.channel, f"outbox:{r.id}") for r in rows]
    await relay.stop()


async def test_rest_writes_never_wait_on_the_broker(app) -> None:  # type: ignore[no-untyped-def]
    hub = app.state.hub = GatedHub()  # the broker hangs, as an unreachable Redis does
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        headers = {"Authorization": f"Bearer {await token_for(client, 'duty')}"}
        created = []
        for n in range(3):
            async with asyncio.timeout(10):  # 23 s was observed before the outbox
                response = await client.post(
                    "/api/incidents", json={**INCIDENT, "headcount": 5 + n}, headers=headers
                )
            assert response.status_code == 201, response.text
            created.append(response.json()["id"])
    assert hub.messages == []
    assert await app.state.outbox.pending() >= 3
    hub.up.set()  # the broker returns: every message goes out once, in commit order
    await _until(lambda: len([m for m in hub.messages if m[1]["type"] == "incident.created"]) >= 9)
    board = [d["id"] for c, d, _ in hub.messages if c == "board" and d["type"] == "incident.created"]
    assert board == created
    keys = [i for _, _, i in hub.messages]
    assert len(keys) == len(set(keys))
    assert hub.attempts == len(hub.messages)  # the blocked publish was the only one waiting
    async with asyncio.timeout(10):  # and the relay marks what it sent
        while await app.state.outbox.pending():
            await asyncio.sleep(0.01)


async def test_the_relay_retries_while_the_broker_fails(app) -> None:  # type: ignore[no-untyped-def]
    hub = app.state.hub = GatedHub(fail=True)
    for n in range(5):
        async with app.state.db.session() as session:
            emit(session, "ledger", type="ledger.warning_raised", id=n)
    await _until(lambda: hub.attempts >= 3)  # tried, failed, tried again
    assert hub.messages == [] and await app.state.outbox.pending() == 5
    hub.up.set()
    await _until(lambda: len(hub.messages) == 5)
    assert [d["id"] for _, d, _ in hub.messages] == [0, 1, 2, 3, 4]


async def test_ids_follow_commit_order(app) -> None:  # type: ignore[no-untyped-def]
    hub = app.state.hub = GatedHub()
    first, second = app.state.db.session(), app.state.db.session()
    a = await first.__aenter__()
    emit(a, "ledger", type="ledger.warning_raised", id="began first, commits last")
    b = await second.__aenter__()
    emit(b, "ledger", type="ledger.warning_raised", id="began last, commits first")
    await second.__aexit__(None, None, None)
    await first.__aexit__(None, None, None)
    hub.up.set()
    await _until(lambda: len(hub.messages) == 2)
    assert [d["id"] for _, d, _ in hub.messages] == ["began last, commits first", "began first, commits last"]


async def test_a_row_published_before_a_crash_is_not_published_twice(app) -> None:  # type: ignore[no-untyped-def]
    """The relay died after publishing, before marking: the next pass repeats the key; the broker drops it."""
    await app.state.outbox.stop()  # no background relay: this test plays the crash by hand
    hub = app.state.hub
    async with app.state.db.session() as session:
        emit(session, "ledger", type="ledger.warning_raised", id=1)
        emit(session, "ledger", type="ledger.warning_raised", id=2)
    rows = await _rows(app)
    before = await hub.broker.position("ledger")
    await hub.publish(rows[0].channel, rows[0].data, id=f"outbox:{rows[0].id}")  # then "kill -9"
    relay = OutboxRelay(app.state.db, lambda: hub)
    assert await relay.drain() == 2
    after = await hub.broker.position("ledger")
    assert after.offset == before.offset + 2  # two messages, not three
    recovered = await hub.broker.recover("ledger", before)
    assert [m.data["id"] for m in recovered.messages] == [1, 2]


async def test_published_rows_are_pruned_after_the_retention_window(app) -> None:  # type: ignore[no-untyped-def]
    await app.state.outbox.stop()
    now = utcnow()
    clock = [now]
    relay = OutboxRelay(app.state.db, lambda: app.state.hub, retention_seconds=3600, clock=lambda: clock[0])
    async with app.state.db.session() as session:
        emit(session, "ledger", type="ledger.warning_raised", id=1)
    assert await relay.drain() == 1
    async with app.state.db.session() as session:
        emit(session, "ledger", type="ledger.warning_raised", id=2)  # not yet published: never pruned
    clock[0] = now + timedelta(seconds=3599)
    assert await relay.prune() == 0
    clock[0] = now + timedelta(seconds=3601)
    assert await relay.prune() == 1
    async with app.state.db.session() as session:
        count = await session.scalar(select(func.count()).select_from(OutboxEvent))
    assert count == 1


async def test_sqlite_publishes_at_once_and_marks_later(app) -> None:  # type: ignore[no-untyped-def]
    """On SQLite the mark (a write transaction) waits for a quiet moment; publishing never waits for it."""
    await app.state.outbox.stop()
    hub = GatedHub()
    hub.up.set()
    relay = OutboxRelay(app.state.db, lambda: hub, poll_seconds=3600, mark_seconds=3600)
    relay.start()
    try:
        async with app.state.db.session() as session:
            emit(session, "ledger", type="ledger.warning_raised", id=1)
        await _until(lambda: len(hub.messages) == 1)
        # PostgreSQL marks in the relay's turn (other processes' relays take turns with it).
        expected = 1 if app.state.db.dialect == "sqlite" else 0
        assert await relay.pending() == expected
        async with app.state.db.session() as session:
            emit(session, "ledger", type="ledger.warning_raised", id=2)
        await _until(lambda: len(hub.messages) == 2)
        assert [data["id"] for _, data, _ in hub.messages] == [1, 2], "a published row went out twice"
        assert await relay.drain() == 0
        assert await relay.pending() == 0
    finally:
        await relay.stop()


async def test_passes_that_overlap_publish_each_row_once(app) -> None:  # type: ignore[no-untyped-def]
    """A request's drain and the background pass run at once: the second reads after the first's rows."""
    await app.state.outbox.stop()
    hub = GatedHub()
    hub.up.set()
    relay = OutboxRelay(app.state.db, lambda: hub, poll_seconds=3600)
    async with app.state.db.session() as session:
        emit(session, "ledger", type="ledger.warning_raised", id=1)
        emit(session, "ledger", type="ledger.warning_raised", id=2)
    assert sum(await asyncio.gather(relay.drain(), relay.drain())) == 2
    assert [data["id"] for _, data, _ in hub.messages] == [1, 2]


async def test_a_quiet_night_that_prunes_every_row_does_not_recycle_ids(app) -> None:  # type: ignore[no-untyped-def]
    """After an hour without writes every row is pruned; the morning's first message must get a new id.

    SQLite hands out max(id) + 1, so an empty table gives 1 again unless the table is AUTOINCREMENT: the
    relay would take the row for one it already sent (``id > last published`` fails), and the broker,
    which remembers ``outbox:{id}`` keys for a day, for a duplicate of yesterday's message. Either way the
    command room would not hear of the morning's incidents until a restart and a day had passed.
    """
    await app.state.outbox.stop()
    now = utcnow()
    clock = [now]
    hub = app.state.hub
    relay = OutboxRelay(app.state.db, lambda: hub, retention_seconds=3600, clock=lambda: clock[0])
    for evening in ("evening 1", "evening 2"):
        async with app.state.db.session() as session:
            emit(session, "ledger", type="ledger.warning_raised", id=evening)
    assert await relay.drain() == 2
    clock[0] = now + timedelta(hours=10)
    assert await relay.prune() == 2
    before = await hub.broker.position("ledger")
    async with app.state.db.session() as session:
        emit(session, "ledger", type="ledger.warning_raised", id="morning")
    assert await relay.drain() == 1, "the relay skipped the morning's row as already published"
    restarted = OutboxRelay(app.state.db, lambda: hub, clock=lambda: clock[0])  # a process started since
    assert await restarted.drain() == 0
    recovered = await hub.broker.recover("ledger", before)
    assert [m.data["id"] for m in recovered.messages] == ["morning"], "the broker dropped it as a duplicate"


def _outbox_reads(app: Any) -> list[str]:
    """The SELECTs of ``hub_outbox`` from now on, on either engine of the app's database."""
    reads: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "hub_outbox" in statement:
            reads.append(statement)

    for engine in {app.state.db.engine, app.state.db.reader}:
        event.listen(engine.sync_engine, "before_cursor_execute", seen)
    return reads


async def test_a_commit_hands_its_rows_to_the_relay_and_a_gap_sends_it_back_to_the_table(  # type: ignore[no-untyped-def]
    app, settings
) -> None:
    """The relay publishes what a commit in its process wrote without reading it back (2.3 ms of the event
    loop per write); a row committed elsewhere in between makes it read the table, and order holds."""
    await app.state.outbox.stop()
    hub = GatedHub()
    hub.up.set()
    relay = OutboxRelay(app.state.db, lambda: hub, poll_seconds=3600)
    relay.start()
    try:
        async with app.state.db.session() as session:
            emit(session, "ledger", type="ledger.warning_raised", id="first")  # the relay learns where it is
        await _until(lambda: len(hub.messages) == 1)
        reads = _outbox_reads(app)
        async with app.state.db.session() as session:
            emit(session, ["board", "incident:1"], type="incident.created", id="handed")
        await _until(lambda: len(hub.messages) == 3)
        assert reads == []  # before: one read of the table per pass
        other = Database.from_settings(settings)  # another process (a CLI command) commits a row
        try:
            async with other.session() as session:
                emit(session, "ledger", type="ledger.warning_raised", id="elsewhere")
        finally:
            await other.dispose()
        async with app.state.db.session() as session:
            emit(session, "ledger", type="ledger.warning_raised", id="after the gap")
        await _until(lambda: len(hub.messages) == 5)
        assert len(reads) >= 1  # the handed row did not follow the last one published: the table decides
        rows = await _rows(app)
        assert [(c, d["id"], i) for c, d, i in hub.messages] == [
            (r.channel, r.data["id"], f"outbox:{r.id}") for r in rows
        ]
        assert [d["id"] for _, d, _ in hub.messages][1:] == ["handed", "handed", "elsewhere", "after the gap"]
    finally:
        await relay.stop()
