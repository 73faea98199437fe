"""Bring a database to the newest schema with Alembic, from the CLI or from a running event loop."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError, OperationalError

from command_center.db import Database
from command_center.errors import ServiceUnavailable


def alembic_config(connection: Any = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("command_center") / "migrations"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


#: The migration that came with the keyed audit chain: a database upgraded across it gets its old
#: (unkeyed) audit entries sealed by a keyed entry (see :func:`command_center.audit.service.seal_legacy`).
KEYED_AUDIT_REVISION = "0008"


async def upgrade(database: Database, revision: str = "head") -> None:
    """Apply every pending migration; an unreachable database becomes one clear error naming its URL."""

    def _run(connection: Any) -> None:
        command.upgrade(alembic_config(connection), revision)

    try:
        before = await current_revision(database)
        async with database.engine.begin() as connection:
            await connection.run_sync(_run)
    except (OperationalError, DBAPIError, OSError) as exc:
        raise ServiceUnavailable(database.unreachable_message(exc)) from exc
    if before is not None and not _includes(before, KEYED_AUDIT_REVISION) and "audit_key" in database.info:
        from command_center.audit import service as audit

        async with database.session() as session:
            await audit.seal_legacy(session)


def _includes(revision: str, wanted: str) -> bool:
    """Whether ``wanted`` is ``revision`` or one of its ancestors."""
    script = ScriptDirectory.from_config(alembic_config())
    return any(r.revision == wanted for r in script.iterate_revisions(revision, "base"))


async def current_revision(database: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    def _current(connection: Any) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with database.engine.connect() as connection:
        return await connection.run_sync(_current)
