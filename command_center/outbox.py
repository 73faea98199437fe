"""The transactional outbox (DESIGN.md section 4): hub messages written with the change, relayed after commit.

``events.emit`` queues messages on the session; when that session commits, they become ``hub_outbox`` rows
in the same transaction, so a message exists exactly when its change does. One :class:`OutboxRelay` per
process publishes committed rows in id order, with ``outbox:{id}`` as the broker's idempotency key, and
marks them published. Consequences:

- no request waits on the broker: with Redis down, writes commit as fast as ever and their rows wait;
- a crash between commit and publish (kill -9) leaves the rows unpublished; the next relay (a restarted
  process, or any other process) publishes them, and a row published but not yet marked is published
  again under the same key, which the broker answers as a duplicate: once, never twice, never lost;
- id order is commit order: on PostgreSQL the rows are inserted under a transaction-scoped advisory lock
  taken at commit time (after the transaction's own work, so it cannot deadlock with row locks), and
  SQLite serialises writers anyway; relays of several processes take turns through a second advisory lock,
  so a channel's messages leave in the order their changes committed.

The relay wakes right after a commit in its process (``after_commit`` of the session) and also polls, so
rows committed by another process, or left by a crashed one, go out within ``poll_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import BigInteger, Integer, String, delete, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.pool import NullPool

from command_center.db import Base, Database, JSONType, UTCDateTime, utcnow

log = logging.getLogger(__name__)

#: Session ``info`` key under which the relay leaves its wake-up call (copied into every new session).
WAKE = "command_center.outbox.wake"
# Arbitrary 64-bit keys for PostgreSQL advisory locks: writers of outbox rows, and the relay's turn.
_WRITE_LOCK = 0x63635F6F7574_01
_RELAY_LOCK = 0x63635F6F7574_02


class OutboxEvent(Base):
    """One hub message waiting for (or done with) the relay."""

    __tablename__ = "hub_outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


def write_rows(session: Session, messages: list[tuple[str, dict[str, Any]]]) -> None:
    """Add ``messages`` as outbox rows to the session's transaction, keeping id order = commit order."""
    if not messages:
        return
    if session.get_bind().dialect.name == "postgresql":
        # Flush the transaction's own work first: under the lock it only inserts these rows (which no one
        # else locks) and commits, so a writer waiting here can never hold what the lock holder needs.
        session.flush()
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _WRITE_LOCK})
    session.add_all(OutboxEvent(channel=channel, data=data) for channel, data in messages)


class Publisher(Protocol):
    """The hub, or a test's recorder. The hub also has ``publish_many``, which the relay prefers."""

    async def publish(self, channel: str, data: dict[str, Any], *, id: str | None = None) -> Any: ...


class OutboxRelay:
    """Publish committed outbox rows in order; retry with backoff while the broker is down.

    ``publisher`` is called for each publish (not captured once), so whatever hub the app holds now is used.
    """

    def __init__(
        self,
        database: Database,
        publisher: Callable[[], Publisher | None],
        *,
        poll_seconds: float = 1.0,
        retention_seconds: float = 3600.0,
        batch_size: int = 200,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._database = database
        self._publisher = publisher
        self._poll = poll_seconds
        self._retention = timedelta(seconds=retention_seconds)
        self._batch = batch_size
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one batch at a time in this process
        self._last_prune = 0.0
        self._is_postgres = database.dialect == "postgresql"
        # SQLite: the app's engine begins every transaction IMMEDIATE (it takes the write lock). The relay
        # reads through an engine of its own instead, a plain WAL reader that never queues behind writers,
        # so a message leaves as soon as its transaction commits; only the marking takes the write lock.
        self._reader: AsyncEngine | None = None
        if database.dialect == "sqlite" and make_url(database.url).database not in (None, "", ":memory:"):
            self._reader = create_async_engine(database.url, poolclass=NullPool, connect_args={"timeout": 30})
        self.failures = 0  # consecutive failed publishes (for /healthz and tests)

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the relay task and let every new session of the database wake it after a commit."""
        maker = self._database.sessionmaker
        info = dict(maker.kw.get("info") or {})
        info[WAKE] = self.wake
        maker.configure(info=info)
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        info = dict(self._database.sessionmaker.kw.get("info") or {})
        info.pop(WAKE, None)
        self._database.sessionmaker.configure(info=info)

    def wake(self) -> None:
        """Ask for a pass now (called right after a commit that wrote outbox rows)."""
        self._wake.set()

    # -- the loop --------------------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = 0.0
        while True:
            if delay:
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll):
                        await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain()
                delay = 0.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The broker (or the database) is down: try again soon, then less often.
                delay = min(max(delay * 2, 0.05), 0.25)
                log.warning("outbox: relay pass failed (%s); retrying in %.2f s", exc, delay)

    async def drain(self) -> int:
        """Publish every committed row now; return how many were published. Raises if the broker fails."""
        total = 0
        while True:
            count, more = await self._pass()
            total += count
            if not more:
                break
        now = time.monotonic()
        if now - self._last_prune > 60.0:
            self._last_prune = now
            await self.prune()
        return total

    async def _pass(self) -> tuple[int, bool]:
        """One batch: claim the relay's turn, read unpublished rows in id order, publish, mark."""
        async with self._lock, self._database.sessionmaker() as session:
            if self._is_postgres:
                # Another process's relay is at work: it publishes these rows in order; ours would only
                # produce duplicates for the broker to discard.
                claim = text("SELECT pg_try_advisory_xact_lock(:key)")
                turn = await session.scalar(claim, {"key": _RELAY_LOCK})
                if not turn:
                    return 0, False
            query = (
                select(OutboxEvent.id, OutboxEvent.channel, OutboxEvent.data)
                .where(OutboxEvent.published_at.is_(None))
                .order_by(OutboxEvent.id)
                .limit(self._batch)
            )
            if self._reader is not None:
                async with self._reader.connect() as reader:
                    rows = (await reader.execute(query)).all()
            else:
                rows = (await session.execute(query)).all()
                if not self._is_postgres:
                    await session.commit()  # never hold SQLite's write lock while the broker answers
            if not rows:
                return 0, False
            published: list[int] = []
            error: BaseException | None = None
            publisher = self._publisher()
            many = getattr(publisher, "publish_many", None)
            try:
                if many is not None:  # the hub: one broker round trip for the whole batch
                    await many([(channel, data, f"outbox:{row_id}") for row_id, channel, data in rows])
                    published = [row_id for row_id, _, _ in rows]
                else:  # a bare publisher (tests' recorders): one by one
                    for row_id, channel, data in rows:
                        if publisher is not None:
                            await publisher.publish(channel, data, id=f"outbox:{row_id}")
                        published.append(row_id)
            except Exception as exc:
                error = exc
            if published:
                self.failures = 0
                done = update(OutboxEvent).where(OutboxEvent.id.in_(published))
                await session.execute(done.values(published_at=self._clock()))
                await session.commit()
            if error is not None:
                self.failures += 1
                raise error
            return len(published), len(rows) == self._batch

    async def prune(self) -> int:
        """Delete rows published longer ago than the retention window."""
        horizon = self._clock() - self._retention
        async with self._database.session() as session:
            result = await session.execute(delete(OutboxEvent).where(OutboxEvent.published_at < horizon))
        return int(getattr(result, "rowcount", 0) or 0)

    async def pending(self) -> int:
        """How many committed rows wait for the relay."""
        async with self._database.sessionmaker() as session:
            query = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None))
            return int(await session.scalar(query) or 0)
