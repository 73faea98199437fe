"""Migrations build the schema the models describe, on SQLite and PostgreSQL, up and down."""

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from command_center.db import Database
from command_center.migrate import alembic_config, current_revision, head_revision, upgrade
from command_center.models import Base


async def test_upgrade_builds_the_models_schema(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    try:
        assert await current_revision(database) is None
        await upgrade(database)
        assert await current_revision(database) == head_revision()

        def diff(connection: Any) -> list[Any]:
            return compare_metadata(MigrationContext.configure(connection), Base.metadata)

        async with database.engine.connect() as connection:
            assert await connection.run_sync(diff) == []
        await upgrade(database)  # a second upgrade is a no-op
    finally:
        await database.dispose()


async def test_downgrade_to_base_and_back(empty_database_url: str) -> None:
    database = Database(empty_database_url)
    try:
        await upgrade(database)

        def down(connection: Any) -> None:
            command.downgrade(alembic_config(connection), "base")

        async with database.engine.begin() as connection:
            await connection.run_sync(down)
        assert await current_revision(database) is None
        await upgrade(database)
        assert await current_revision(database) == head_revision()
    finally:
        await database.dispose()
