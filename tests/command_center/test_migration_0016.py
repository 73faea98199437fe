"""Migration 0016: outbox rows survive the rebuild, and ids keep counting up once every row is pruned."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from command_center.db import Database
from command_center.migrate import upgrade

ROW = "INSERT INTO hub_outbox (channel, data, created_at) VALUES ('ledger', '{}', :at)"
AT = datetime(2026, 11, 30, 20, tzinfo=UTC)


async def _next_id(connection: AsyncConnection) -> int:
    """Write one row into the (otherwise empty) table and return its id."""
    await connection.execute(sa.text(ROW), {"at": AT})
    (row_id,) = (await connection.execute(sa.text("SELECT id FROM hub_outbox"))).scalars().all()
    return int(row_id)


@pytest.mark.parametrize("pruned_first", [False, True])
async def test_ids_are_never_handed_out_again(empty_database_url: str, pruned_first: bool) -> None:
    """Three rows at 0015, then the relay's prune after a quiet hour, before or after the upgrade."""
    database = Database(empty_database_url)
    try:
        await upgrade(database, "0015")
        async with database.engine.begin() as connection:
            for _ in range(3):
                await connection.execute(sa.text(ROW), {"at": AT})
            if pruned_first:
                await connection.execute(sa.text("DELETE FROM hub_outbox"))
        await upgrade(database)
        async with database.engine.begin() as connection:
            if not pruned_first:  # the rows came through the rebuild
                ids = (await connection.execute(sa.text("SELECT id FROM hub_outbox ORDER BY id"))).scalars()
                assert list(ids) == [1, 2, 3]
                await connection.execute(sa.text("DELETE FROM hub_outbox"))
            next_id = await _next_id(connection)
        if pruned_first:  # no row said how far the ids went: they jump past any given out
            assert next_id > 3, f"id {next_id} was handed out before the upgrade (its broker key may live on)"
        else:
            assert next_id == 4
    finally:
        await database.dispose()
