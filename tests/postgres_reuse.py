"""One PostgreSQL database per test worker, put back to the seeded template's contents before each test.

``CREATE DATABASE ... TEMPLATE`` and ``DROP DATABASE`` cost 0.5-1.5 s per test on this machine (PostgreSQL
writes the whole template through its WAL, then removes the files again); 291 tests run on PostgreSQL. The
tests write a few rows each, so deleting every row and copying the template's rows back gives the same
database in ~70 ms: same schema, same rows, sequences where the template left them.

A test may change more than rows (``test_chain`` drops the audit log's trigger to forge a row). Before each
reset the schema's fingerprint (columns, constraints, indexes, triggers, sequences) is compared with the
template's; on any difference, or if the reset itself fails, the database is dropped and made again from the
template, as before. Connections a test left open are closed first, as ``DROP ... WITH (FORCE)`` did.

Tests that need a database of their own (migrations, several server processes) make it with the same
helpers: ``url_of``, ``dsn`` and ``execute_admin``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from tests.services import POSTGRES_URL

#: Everything about the schema a test could change; rows are not part of it.
_FINGERPRINT = """
SELECT md5(string_agg(item, ',' ORDER BY item)) FROM (
  SELECT 'c:' || table_name || '.' || column_name || ':' || data_type || ':' || is_nullable || ':'
         || coalesce(column_default, '') AS item
    FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL SELECT 't:' || tgname || ':' || tgrelid::regclass::text || ':' || tgenabled::text
    FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT 'i:' || indexdef FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL SELECT 'k:' || conname || ':' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL SELECT 's:' || sequencename FROM pg_sequences WHERE schemaname = 'public'
  UNION ALL SELECT 'v:' || viewname FROM pg_views WHERE schemaname = 'public'
) AS schema_items
"""


def url_of(database: str) -> str:
    """The SQLAlchemy URL of ``database`` on the tests' PostgreSQL server."""
    return make_url(POSTGRES_URL).set(database=database).render_as_string(hide_password=False)


def dsn(database: str | None = None) -> str:
    """asyncpg's DSN for ``database`` on that server (its default database when None)."""
    parsed = make_url(POSTGRES_URL).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def execute_admin(*statements: str) -> None:
    """Run statements such as ``CREATE DATABASE`` on the server's default database, one connection for all."""
    connection = await asyncpg.connect(dsn())
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@dataclass
class _Snapshot:
    """The template's contents: its rows per table, its sequences' positions and its schema's fingerprint."""

    tables: list[str]
    rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]]
    sequences: list[tuple[str, int, bool]]  # (name, value, is_called) for setval
    fingerprint: str

    @classmethod
    async def take(cls, connection: asyncpg.Connection) -> _Snapshot:
        tables = [
            r[0]
            for r in await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
        for table in tables:
            records = await connection.fetch(f'SELECT * FROM "{table}"')
            if records:
                rows[table] = (list(records[0].keys()), [tuple(r) for r in records])
        sequences = [
            (
                f'public."{r["sequencename"]}"',
                r["last_value"] or r["start_value"],
                r["last_value"] is not None,
            )
            for r in await connection.fetch(
                "SELECT sequencename, start_value, last_value FROM pg_sequences WHERE schemaname = 'public'"
            )
        ]
        return cls(tables, rows, sequences, await connection.fetchval(_FINGERPRINT))


@dataclass
class ReusedDatabase:
    """A worker's database, made from ``template`` on first use and reset to it before every later use."""

    template: str
    name: str = field(default_factory=lambda: f"cc_test_{uuid.uuid4().hex[:12]}")
    recreated: int = 0  # how often a schema change (or a failed reset) forced DROP and CREATE
    _snapshot: _Snapshot | None = None

    @property
    def url(self) -> str:
        return url_of(self.name)

    async def fresh(self) -> str:
        """The database's URL, holding exactly what the template holds."""
        if self._snapshot is None:
            await self._create()
        elif not await self._reset():
            await self.drop()
            await self._create()
            self.recreated += 1
        return self.url

    async def drop(self) -> None:
        await execute_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    async def _create(self) -> None:
        await execute_admin(f'CREATE DATABASE "{self.name}" TEMPLATE "{self.template}"')
        connection = await asyncpg.connect(dsn(self.name))
        try:
            self._snapshot = await _Snapshot.take(connection)
        finally:
            await connection.close()

    async def _reset(self) -> bool:
        """Delete every row and copy the template's back, in one transaction; False if that cannot be done."""
        snapshot = self._snapshot
        assert snapshot is not None
        connection = await asyncpg.connect(dsn(self.name))
        try:
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if await connection.fetchval(_FINGERPRINT) != snapshot.fingerprint:
                return False
            async with connection.transaction():
                # Replica mode skips triggers, so neither the foreign keys' order nor the audit log's
                # append-only trigger stands in the way of emptying the tables.
                deletes = " ".join(f'DELETE FROM "{table}";' for table in snapshot.tables)
                await connection.execute(f"SET LOCAL session_replication_role = replica; {deletes}")
                for table, (columns, records) in snapshot.rows.items():
                    await connection.copy_records_to_table(table, records=records, columns=columns)
                for name, value, called in snapshot.sequences:
                    await connection.execute("SELECT setval($1::regclass, $2, $3)", name, value, called)
            return True
        except asyncpg.PostgresError:
            return False
        finally:
            await connection.close()
