"""Migration 0016: outbox rows survive the rebuild, and ids keep counting up once every row is pruned."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from command_center.db import Database
from command_center.migrate import upgrade
from tests.postgres_reuse import execute_admin, url_of
from tests.services import postgres_available, require

ROW = "INSERT INTO hub_outbox (channel, data, created_at) VALUES ('ledger', '{}', :at)"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
        return
    require("postgresql", postgres_available())
    name = f"cc_outbox_{uuid.uuid4().hex[:10]}"
    asyncio.run(execute_admin(f'CREATE DATABASE "{name}"'))
    yield url_of(name)
    asyncio.run(execute_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_rows_survive_and_ids_are_not_handed_out_again(empty_url: str) -> None:
    database = Database(empty_url)
    at = datetime(2026, 11, 30, 20, tzinfo=UTC)
    try:
        await upgrade(database, "0015")
        async with database.engine.begin() as connection:
            for _ in range(3):
                await connection.execute(sa.text(ROW), {"at": at})
        await upgrade(database)
        async with database.engine.begin() as connection:
            ids = (await connection.execute(sa.text("SELECT id FROM hub_outbox ORDER BY id"))).scalars().all()
            assert ids == [1, 2, 3]
            # The relay's prune after a quiet hour: every row goes.
            await connection.execute(sa.text("DELETE FROM hub_outbox"))
            await connection.execute(sa.text(ROW), {"at": at})
            (next_id,) = (await connection.execute(sa.text("SELECT id FROM hub_outbox"))).scalars().all()
        assert next_id == 4
    finally:
        await database.dispose()


async def test_an_emptied_table_starts_above_every_id_it_gave_out(empty_url: str) -> None:
    """Pruned empty before the upgrade (a quiet night): no row says how far the ids went, so they jump."""
    database = Database(empty_url)
    at = datetime(2026, 11, 30, 20, tzinfo=UTC)
    try:
        await upgrade(database, "0015")
        async with database.engine.begin() as connection:
            for _ in range(3):
                await connection.execute(sa.text(ROW), {"at": at})
            await connection.execute(sa.text("DELETE FROM hub_outbox"))
        await upgrade(database)
        async with database.engine.begin() as connection:
            await connection.execute(sa.text(ROW), {"at": at})
            (next_id,) = (await connection.execute(sa.text("SELECT id FROM hub_outbox"))).scalars().all()
        assert next_id > 3, f"id {next_id} was handed out before the upgrade (its broker key may live on)"
    finally:
        await database.dispose()
