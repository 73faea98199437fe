"""Writers of one SQLite file queue in the event loop and take over the moment the previous one commits.

Before: every transaction took its own pooled connection and blocked at ``BEGIN IMMEDIATE`` in SQLite's
busy handler, which sleeps and retries (1, 2, 5, 10, 15, 20, 25 ms ...); four writes arriving together
finished at 24 / 35 / 55 / 77 ms although each needed ~10 ms (benchmarks/RESULTS.md). Now they wait for the
one writer connection in FIFO order, which costs no thread and no sleep.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from command_center.db import Database


async def test_a_second_writer_waits_for_the_connection_not_inside_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")
    try:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE t (who TEXT)"))
        order: list[str] = []
        first_holds = asyncio.Event()
        let_first_commit = asyncio.Event()

        async def write(who: str, hold: asyncio.Event | None = None) -> None:
            async with db.session() as session:
                await session.execute(text("INSERT INTO t VALUES (:who)"), {"who": who})
                order.append(who)
                if hold is not None:
                    first_holds.set()
                    await hold.wait()

        first = asyncio.create_task(write("first", let_first_commit))
        await first_holds.wait()
        waiting = [asyncio.create_task(write(name)) for name in ("second", "third", "fourth")]
        for _ in range(20):  # let the waiting writers run as far as they can
            await asyncio.sleep(0)
        # The first writer holds the one connection; the others queue for it, none blocked in SQLite.
        assert db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        assert order == ["first"]
        assert not any(task.done() for task in waiting)
        let_first_commit.set()
        await asyncio.gather(first, *waiting)
        assert order == ["first", "second", "third", "fourth"]  # in the order they asked
        async with db.read_session() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 4
    finally:
        await db.dispose()
