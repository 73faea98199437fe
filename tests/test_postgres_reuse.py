"""The reused PostgreSQL test database really is the template again after a test (``tests.postgres_reuse``).

If the reset left a row, a sequence position or a schema change behind, tests would start to depend on each
other's leftovers; these tests make a database dirty in each of those ways and check what the next test sees.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.postgres_reuse import ReusedDatabase, dsn


async def _state(name: str) -> tuple[list[tuple[object, ...]], int, int, bool]:
    """Users, the departments' next id (not using it up), the audit rows, whether the audit trigger exists."""
    connection = await asyncpg.connect(dsn(name))
    try:
        users = [tuple(r) for r in await connection.fetch("SELECT id, name, role FROM users ORDER BY id")]
        next_id = await connection.fetchval(
            "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM departments_id_seq"
        )
        audit_rows = await connection.fetchval("SELECT count(*) FROM audit_log")
        trigger = await connection.fetchval(
            "SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_log_no_change'"
        )
        return users, next_id, audit_rows, trigger == 1
    finally:
        await connection.close()


async def _dirty(name: str, *, drop_trigger: bool) -> None:
    connection = await asyncpg.connect(dsn(name))
    try:
        await connection.execute(
            "INSERT INTO departments (code, name_zh, name_en, created_at) "
            "VALUES ('zz', '测试', 'Test', now())"
        )
        await connection.execute("UPDATE users SET role = 'liaison' WHERE name = 'commander'")
        await connection.execute("DELETE FROM users WHERE name = 'field1'")
        if drop_trigger:
            await connection.execute("DROP TRIGGER audit_log_no_change ON audit_log")
        await connection.execute(
            "INSERT INTO audit_log (seq, at, actor_name, action, target, outcome, detail, prev_hash, hash) "
            "VALUES (100000, now(), 'x', 'forged', '', 'ok', '{}', '', 'h')"
        )
    finally:
        await connection.close()


@pytest.fixture
async def database(postgres_template: str) -> AsyncIterator[ReusedDatabase]:
    """A reused database of the test's own (not the worker's), made from the template on first use."""
    reused = ReusedDatabase(postgres_template)
    yield reused
    await reused.drop()


async def test_rows_sequences_and_schema_come_back(database: ReusedDatabase) -> None:
    url, name = await database.fresh(), database.name
    template = await _state(name)
    assert template[3], "the template has the audit log's append-only trigger"

    await _dirty(name, drop_trigger=False)
    assert await _state(name) != template
    assert await database.fresh() == url  # the same database, reset in place
    assert await _state(name) == template
    assert database.recreated == 0

    await _dirty(name, drop_trigger=True)  # a schema change: the reset must not be trusted
    assert await database.fresh() == url
    assert await _state(name) == template
    assert database.recreated == 1


async def test_connections_left_open_do_not_block_the_reset(database: ReusedDatabase) -> None:
    await database.fresh()
    template = await _state(database.name)
    straggler = await asyncpg.connect(dsn(database.name))
    transaction = straggler.transaction()
    await transaction.start()
    await straggler.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")  # as a hung test might
    await database.fresh()
    assert await _state(database.name) == template
    straggler.terminate()
