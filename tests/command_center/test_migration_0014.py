"""Migration 0014 moves the JSON department lists into association tables and back, on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command

from command_center.db import Database
from command_center.migrate import alembic_config, upgrade

BEFORE = "0006"
REVISION = "0014"


INCIDENT = (
    "INSERT INTO incidents (id, title, category, stage, address, demands, dynamics, first_department, "
    "departments, online_track, started_at, created_at, drill, zones, team) VALUES (:id, 't', "
    "'collective_petition', 'information_report', '', '', '', :first, :departments, false, :at, :at, false, "
    "'{}', '[]')"
)
MATTER = (
    "INSERT INTO matters (id, title, description, first_department, owner_department, pending_reason, "
    "departments, created_at) VALUES (:id, 'm', '', :first, :first, '', :departments, :at)"
)

EVENT = (
    "INSERT INTO incident_events (incident_id, at, action, actor_name, actor_role, actor_department, detail, "
    "drill) VALUES (1, :at, 'incident.create', 'duty', 'duty_officer', 'section', '{}', false)"
)


async def _rows(database: Database, sql: str) -> list[tuple[Any, ...]]:
    async with database.engine.connect() as connection:
        return [tuple(r) for r in (await connection.execute(sa.text(sql))).all()]


async def test_department_lists_move_into_tables_and_back(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    try:
        await upgrade(database, BEFORE)
        at = datetime(2026, 3, 1, 8, tzinfo=UTC)
        async with database.engine.begin() as connection:
            for incident_id, departments in ((1, '["section", "police", "fire_rescue"]'), (2, '["section"]'),
                                             (3, "[]")):  # fmt: skip
                await connection.execute(
                    sa.text(INCIDENT),
                    {"id": incident_id, "first": "section", "departments": departments, "at": at},
                )
            await connection.execute(
                sa.text(MATTER),
                {"id": 7, "first": "police", "departments": '["police", "housing"]', "at": at},
            )
            await connection.execute(sa.text(EVENT), {"at": at})
        await upgrade(database, REVISION)
        # Nothing that cascades from an incident is lost on the way (SQLite must not recreate the table).
        assert await _rows(database, "SELECT incident_id, action FROM incident_events") == [
            (1, "incident.create")
        ]
        links = await _rows(
            database, "SELECT incident_id, department, position FROM incident_departments ORDER BY 1, 3"
        )
        assert links == [(1, "section", 0), (1, "police", 1), (1, "fire_rescue", 2), (2, "section", 0)]
        matter_links = await _rows(database, "SELECT matter_id, department, position FROM matter_departments")
        assert sorted(matter_links) == [(7, "housing", 1), (7, "police", 0)]
        scoped = await _rows(
            database,
            "SELECT i.id FROM incidents i JOIN incident_departments d ON d.incident_id = i.id "
            "WHERE d.department = 'police' ORDER BY i.id DESC LIMIT 1",
        )
        assert scoped == [(1,)]

        def down(connection: Any) -> None:
            command.downgrade(alembic_config(connection), BEFORE)

        async with database.engine.begin() as connection:
            await connection.run_sync(down)
        restored = await _rows(database, "SELECT id, departments FROM incidents ORDER BY id")
        as_lists = [(i, json.loads(d) if isinstance(d, str) else d) for i, d in restored]
        assert as_lists == [(1, ["section", "police", "fire_rescue"]), (2, ["section"]), (3, [])]
        (matter,) = await _rows(database, "SELECT departments FROM matters")
        assert (json.loads(matter[0]) if isinstance(matter[0], str) else matter[0]) == ["police", "housing"]
    finally:
        await database.dispose()
