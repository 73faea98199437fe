import subprocess
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from command_center.audit import service as audit
from command_center.auth.roles import Principal, Role
from command_center.db import Database
from tests.conftest import TEST_AUDIT_KEY, TEST_SECRET

ACTOR = Principal(id=7, name="commander", role=Role.commander, department="section")


async def _append(database: Database, n: int) -> None:
    async with database.session() as session:
        for i in range(n):
            await audit.record(
                session, action="test.event", actor=ACTOR, target=f"thing:{i}", detail={"i": i}
            )


@pytest.fixture
async def database(database_url: str):  # type: ignore[no-untyped-def]
    db = Database(database_url, audit_key=TEST_AUDIT_KEY)
    yield db
    await db.dispose()


async def _drop_guards(database: Database) -> None:
    async with database.session() as session:
        if database.dialect == "postgresql":
            await session.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))
        else:
            await session.execute(text("DROP TRIGGER audit_log_no_update"))
            await session.execute(text("DROP TRIGGER audit_log_no_delete"))


async def test_chain_verifies(database: Database) -> None:
    await _append(database, 5)
    async with database.session() as session:
        report = await audit.verify(session)
    assert report.ok
    assert report.entries == 6  # the demo seed's entry + 5


async def test_secrets_are_never_written(database: Database) -> None:
    async with database.session() as session:
        entry = await audit.record(
            session, action="x", detail={"password": "hunter22", "token": "abc", "ok": 1}
        )
    assert "hunter22" not in entry.detail and "abc" not in entry.detail
    assert '"ok":1' in entry.detail


async def test_database_refuses_updates_and_deletes(database: Database) -> None:
    await _append(database, 2)
    for statement in (
        "UPDATE audit_log SET action = 'x' WHERE seq = 2",
        "DELETE FROM audit_log WHERE seq = 2",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with database.session() as session:
                await session.execute(text(statement))


async def test_altered_row_is_the_first_broken_link(database: Database) -> None:
    await _append(database, 5)
    await _drop_guards(database)
    async with database.session() as session:
        await session.execute(text("UPDATE audit_log SET target = 'thing:forged' WHERE seq = 4"))
    async with database.session() as session:
        report = await audit.verify(session)
    assert not report.ok
    assert report.first_broken_seq == 4
    assert "altered" in report.reason


async def test_deleted_row_is_reported(database: Database) -> None:
    await _append(database, 5)
    await _drop_guards(database)
    async with database.session() as session:
        await session.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    async with database.session() as session:
        report = await audit.verify(session)
    assert (report.ok, report.first_broken_seq) == (False, 3)
    assert "missing" in report.reason


async def test_rewritten_hash_breaks_the_next_link(database: Database) -> None:
    await _append(database, 4)
    await _drop_guards(database)
    async with database.session() as session:
        await session.execute(text("UPDATE audit_log SET hash = :h WHERE seq = 2"), {"h": "f" * 64})
    async with database.session() as session:
        report = await audit.verify(session)
    assert report.first_broken_seq == 2


async def test_concurrent_appends_keep_one_chain(database: Database) -> None:
    import asyncio

    async def writer(k: int) -> None:
        for i in range(5):
            async with database.session() as session:
                await audit.record(session, action="race", target=f"{k}:{i}")

    await asyncio.gather(*(writer(k) for k in range(4)))
    async with database.session() as session:
        report = await audit.verify(session)
    assert report.ok and report.entries == 21


async def test_cli_verify_reports_tampering(database: Database, database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    await _append(database, 3)
    env = {
        "CC_DATABASE_URL": database_url,
        "CC_DEVELOPMENT": "true",
        "CC_SECRET_KEY": TEST_SECRET,
        "CC_AUDIT_ANCHOR_PATH": str(tmp_path / "anchor.jsonl"),
        "PATH": "/usr/bin:/bin",
    }
    ok = subprocess.run(
        [sys.executable, "-m", "command_center", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    assert "4 entries" in ok.stdout
    await _drop_guards(database)
    async with database.session() as session:
        await session.execute(text("UPDATE audit_log SET detail = '{}' WHERE seq = 3"))
    broken = subprocess.run(
        [sys.executable, "-m", "command_center", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert broken.returncode == 1
    assert "BROKEN at entry 3" in broken.stdout
    assert "Traceback" not in broken.stderr
