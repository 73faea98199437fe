"""Keyed chain and signed checkpoints (DESIGN.md section 11): what someone with database access alone can
no longer hide: deleting the newest rows or all rows, rewriting with recomputed hashes, a forged append."""

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from command_center.audit import anchor
from command_center.audit import service as audit
from command_center.audit.anchor import FileAnchor, RedisAnchor
from command_center.audit.chain import Checkpoint, entry_hash, legacy_entry_hash
from command_center.audit.checkpointer import Checkpointer
from command_center.audit.models import AuditEntry
from command_center.audit.service import _fields
from command_center.db import Database
from command_center.settings import Settings
from tests.command_center.audit.test_chain import _append, _drop_guards
from tests.conftest import TEST_SECRET
from tests.services import REDIS_URL, redis_available, require


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def database(settings: Settings):  # type: ignore[no-untyped-def]
    db = Database.from_settings(settings)
    yield db
    await db.dispose()


@pytest.fixture
def checkpointer(database: Database, settings: Settings) -> Checkpointer:
    return Checkpointer(
        database, settings, clock=Clock(), anchor_list=[FileAnchor(settings.audit_anchor_path)]
    )


async def _verify(database: Database, settings: Settings) -> audit.ChainReport:
    checkpoints = await anchor.read_all(settings)
    async with database.session() as session:
        return await audit.verify(session, checkpoints=checkpoints)


async def _rechain(database: Database, start: int, hasher) -> None:  # type: ignore[no-untyped-def]
    """What an intruder with database access does after changing entry ``start``: recompute every hash."""
    async with database.session() as session:
        rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.seq))).scalars().all()
        prev = rows[start - 2].hash if start > 1 else "0" * 64
        for row in rows[start - 1 :]:
            fields = {**_fields(row), "prev_hash": prev}
            new = hasher(fields)
            await session.execute(
                text("UPDATE audit_log SET prev_hash = :p, hash = :h WHERE seq = :s"),
                {"p": prev, "h": new, "s": row.seq},
            )
            prev = new


async def test_checkpoints_are_written_when_the_head_moves(database, settings, checkpointer) -> None:  # type: ignore[no-untyped-def]
    first = await checkpointer.write()
    assert first is not None and first.seq == 1  # the demo seed's entry
    assert await checkpointer.write() is None  # nothing new: no line
    await _append(database, 3)
    checkpointer.clock.now += timedelta(minutes=1)
    second = await checkpointer.write()
    assert second is not None and (second.seq, second.count) == (4, 4)
    lines = settings.audit_anchor_path.read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[1])["at"] == "2026-11-30T08:01:00+00:00"
    report = await _verify(database, settings)
    assert report.ok and report.checkpoints == 2 and report.entries == 4


async def test_the_app_writes_a_checkpoint_at_start_and_every_interval(settings: Settings) -> None:
    from command_center.app import create_app

    path = settings.audit_anchor_path

    async def lines(count: int) -> list[int]:
        for _ in range(1200):  # wait for the event (a checkpoint line), with a generous timeout
            if path.exists() and len(path.read_text().splitlines()) >= count:
                break
            await asyncio.sleep(0.025)
        return [json.loads(line)["seq"] for line in path.read_text().splitlines()]

    app = create_app(settings.model_copy(update={"audit_checkpoint_seconds": 0.05}))
    async with app.router.lifespan_context(app):
        assert await lines(1) == [1]  # at start
        async with app.state.db.session() as session:
            await audit.record(session, action="test.event")
        assert await lines(2) == [1, 2]  # within an interval of the change


async def test_deleting_the_newest_rows_is_named(database, settings, checkpointer) -> None:  # type: ignore[no-untyped-def]
    await _append(database, 5)
    await checkpointer.write()
    await _drop_guards(database)
    async with database.session() as session:
        await session.execute(text("DELETE FROM audit_log WHERE seq > 3"))
    report = await _verify(database, settings)
    assert (report.ok, report.first_broken_seq) == (False, 4)
    assert "newest entries were deleted (truncated)" in report.reason
    assert "up to entry 6" in report.reason and "ends at entry 3" in report.reason


async def test_deleting_every_row_is_named(database, settings, checkpointer) -> None:  # type: ignore[no-untyped-def]
    await _append(database, 2)
    await checkpointer.write()
    await _drop_guards(database)
    async with database.session() as session:
        await session.execute(text("DELETE FROM audit_log"))
    report = await _verify(database, settings)
    assert not report.ok and "all entries were deleted" in report.reason and "3 entries" in report.reason


@pytest.mark.parametrize(
    ("hasher", "expected"),
    [
        # The old, unkeyed SHA-256 from entry 1 on: the chain walks, but no longer matches the checkpoint.
        (legacy_entry_hash, "differs from the signed checkpoint"),
        # A guessed key: the first rewritten entry's HMAC does not match.
        (lambda fields: entry_hash(b"guessed-key", fields), "keyed hash does not match"),
    ],
)
async def test_a_rewrite_with_recomputed_hashes_is_named(
    database, settings, checkpointer, hasher, expected
) -> None:  # type: ignore[no-untyped-def]
    await _append(database, 5)
    await checkpointer.write()
    await _drop_guards(database)
    async with database.session() as session:
        await session.execute(text("UPDATE audit_log SET target = 'thing:forged' WHERE seq = 3"))
    await _rechain(database, 1 if hasher is legacy_entry_hash else 3, hasher)
    report = await _verify(database, settings)
    assert not report.ok and expected in report.reason, report


async def test_an_unkeyed_rewrite_after_keyed_entries_is_named(database, settings) -> None:  # type: ignore[no-untyped-def]
    await _append(database, 5)
    await _drop_guards(database)
    await _rechain(database, 4, legacy_entry_hash)
    report = await _verify(database, settings)  # no checkpoint needed for this one
    assert (report.ok, report.first_broken_seq) == (False, 4)
    assert "unkeyed hash after keyed entries" in report.reason


async def test_a_forged_append_is_named(database, settings) -> None:  # type: ignore[no-untyped-def]
    await _append(database, 2)
    async with database.session() as session:
        seq, prev = await audit.head(session)
        fields = {
            "seq": seq + 1,
            "at": datetime.now(UTC),
            "actor_id": None,
            "actor_name": "system",
            "action": "user.create",
            "target": "user:mole",
            "outcome": "ok",
            "detail": "{}",
            "prev_hash": prev,
        }
        session.add(AuditEntry(**fields, hash=entry_hash(b"not-the-key", fields)))
    report = await _verify(database, settings)
    assert (report.ok, report.first_broken_seq) == (False, seq + 1) and "forged" in report.reason


async def test_a_forged_checkpoint_is_named(database, settings, checkpointer) -> None:  # type: ignore[no-untyped-def]
    await checkpointer.write()
    forged = Checkpoint(99, "f" * 64, 99, "2026-11-30T09:00:00+00:00").signed(b"not-the-key")
    await FileAnchor(settings.audit_anchor_path).append(forged)
    report = await _verify(database, settings)
    assert not report.ok and "bad signature" in report.reason and ":2" in report.reason


async def test_legacy_entries_verify_as_a_prefix_and_stay_protected(database, settings) -> None:  # type: ignore[no-untyped-def]
    """A database from before the keyed chain: its entries carry plain SHA-256 and still verify once sealed
    by a keyed entry; rewriting them afterwards (even recomputing every hash after them) is found."""
    await _append(database, 2)
    await _drop_guards(database)
    await _rechain(database, 1, legacy_entry_hash)  # what the old code wrote
    unsealed = await _verify(database, settings)
    assert not unsealed.ok and "no entry carries a keyed hash" in unsealed.reason
    async with database.session() as session:
        assert (await audit.seal_legacy(session)) is not None  # what `db upgrade` does once
        assert (await audit.seal_legacy(session)) is None
    await _append(database, 1)
    report = await _verify(database, settings)
    assert report.ok and (report.legacy, report.entries) == (3, 5), report
    async with database.session() as session:
        await session.execute(text("UPDATE audit_log SET target = 'thing:forged' WHERE seq = 2"))
    await _rechain(database, 2, legacy_entry_hash)  # every hash after it, the keyed ones made unkeyed
    report = await _verify(database, settings)
    assert not report.ok and "no entry carries a keyed hash" in report.reason, report


async def test_upgrading_across_the_keyed_chain_seals_old_entries(settings: Settings, tmp_path: Path) -> None:
    from command_center.migrate import upgrade

    database = Database.from_settings(
        settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"})
    )
    try:
        await upgrade(database, "0006")  # the schema before the keyed chain
        async with database.session() as session:
            fields = {
                "seq": 1,
                "at": datetime.now(UTC),
                "actor_id": None,
                "actor_name": "system",
                "action": "demo.seed",
                "target": "",
                "outcome": "ok",
                "detail": "{}",
                "prev_hash": "0" * 64,
            }
            session.add(AuditEntry(**fields, hash=legacy_entry_hash(fields)))
        await upgrade(database)
        async with database.session() as session:
            report = await audit.verify(session)
            actions = list(
                (await session.execute(select(AuditEntry.action).order_by(AuditEntry.seq))).scalars()
            )
        assert report.ok and report.legacy == 1 and actions == ["demo.seed", "audit.seal"]
    finally:
        await database.dispose()


async def test_cli_verify_names_a_truncation(
    database, database_url, settings, checkpointer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    await _append(database, 3)
    await checkpointer.write()
    env = {
        "CC_DATABASE_URL": database_url,
        "CC_SECRET_KEY": TEST_SECRET,
        "CC_DEVELOPMENT": "true",
        "CC_AUDIT_ANCHOR_PATH": str(settings.audit_anchor_path),
        "PATH": "/usr/bin:/bin",
    }

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "command_center", "audit", "verify"],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )

    intact = run()
    assert intact.returncode == 0 and "1 signed checkpoints hold" in intact.stdout, (
        intact.stdout + intact.stderr
    )
    await _drop_guards(database)
    async with database.session() as session:
        await session.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    broken = run()
    assert broken.returncode == 1
    assert "BROKEN at entry 4" in broken.stdout and "truncated" in broken.stdout
    assert "Traceback" not in broken.stderr


async def test_checkpoints_go_to_redis_too(database, settings) -> None:  # type: ignore[no-untyped-def]
    require("redis", redis_available())
    key = f"test:audit:{uuid.uuid4().hex}"
    redis_anchor = RedisAnchor(REDIS_URL, key=key)
    writer = Checkpointer(database, settings, clock=Clock(), anchor_list=[redis_anchor])
    try:
        await _append(database, 2)
        written = await writer.write()
        stored = await redis_anchor.read()
        assert [(c.seq, c.hash) for c in stored] == [(written.seq, written.hash)]  # type: ignore[union-attr]
        await _drop_guards(database)
        async with database.session() as session:
            await session.execute(text("DELETE FROM audit_log WHERE seq = 3"))
            report = await audit.verify(session, checkpoints=stored)
        assert not report.ok and f"redis {key}[0]" in report.reason
    finally:
        await redis_anchor.client.delete(key)
        await redis_anchor.close()
