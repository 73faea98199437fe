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

A commit in this process also hands the relay the rows it wrote (``wake(rows)``). When they continue the
ids the relay has published with no gap, nothing committed can sit between them, so the relay publishes
them as they are instead of reading them back: the read was 2.3 ms of the event loop per write, a fifth of
it (RESULTS.md, "Session of 2026-11-30"). Any gap (another process's commit, a rolled-back sequence value,
a failed publish) and the relay reads the table as before; the table stays the one source of truth. With
several processes on PostgreSQL a handed row may already have been published (and marked) by another
process's relay in its turn; publishing it again, even after later rows, is the crash case above: the
broker answers the repeated ``outbox:{id}`` as a duplicate, and subscribers see each message once, in order.

On SQLite, publishing and marking are apart: the relay reads rows without the write lock and publishes them
at once, remembering the last id it published; it marks what it published once ``mark_seconds`` have passed
since the last mark (within two of them once writes stop; at once at the end of ``drain``). A mark is a
write transaction that every request's write queues behind, so marking after each commit doubled the writes
the requests waited for (RESULTS.md, "Outbox"). PostgreSQL marks in the relay's turn, which other
processes' relays wait for. A row published but not yet marked when the process dies is published again by
the next relay under the same key, which the broker answers as a duplicate: the guarantee above holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import BigInteger, Integer, Row, String, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, Session, mapped_column

from command_center.db import Base, Database, JSONType, UTCDateTime, utcnow

log = logging.getLogger(__name__)

#: Session ``info`` key under which the relay leaves its wake-up call (copied into every new session).
WAKE = "command_center.outbox.wake"
# Arbitrary 64-bit keys for PostgreSQL advisory locks: writers of outbox rows, and the relay's turn.
_WRITE_LOCK = 0x63635F6F7574_01
_RELAY_LOCK = 0x63635F6F7574_02
_LAST_ROWID = text("SELECT last_insert_rowid()")


class OutboxEvent(Base):
    """One hub message waiting for (or done with) the relay."""

    __tablename__ = "hub_outbox"
    # Ids are never handed out twice: SQLite otherwise gives max(id) + 1, which is 1 again once a quiet hour
    # has pruned every row, and the relay (``id > last published``) and the broker (``outbox:{id}`` keys
    # kept for a day) would both take the new row for one already sent.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


#: An outbox row as the relay publishes it: (id, channel, data).
OutboxRow = tuple[int, str, dict[str, Any]]


def write_rows(session: Session, messages: list[tuple[str, dict[str, Any]]]) -> list[OutboxRow]:
    """Add ``messages`` as outbox rows to the session's transaction, keeping id order = commit order.

    Returns the rows with their ids, for the relay (``OutboxRelay.wake``) once the transaction commits.
    """
    if not messages:
        return []
    if session.get_bind().dialect.name == "postgresql":
        # Flush the transaction's own work first: under the lock it only inserts these rows (which no one
        # else locks) and commits, so a writer waiting here can never hold what the lock holder needs.
        session.flush()
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _WRITE_LOCK})
    # One statement for all of them (an executemany), in order: ids follow the list, as the relay reads
    # them. (Rows added to the session were flushed one INSERT ... RETURNING at a time, each one more wait
    # for the database while SQLite's write lock is held; SQLAlchemy's ordered executemany with RETURNING
    # does the same on SQLite, and a multi-row VALUES statement is compiled afresh every time.)
    now = utcnow()
    values = [{"channel": channel, "data": data, "created_at": now} for channel, data in messages]
    if session.get_bind().dialect.name == "postgresql":
        numbered = insert(OutboxEvent).returning(OutboxEvent.id, sort_by_parameter_order=True)
        ids = list(session.execute(numbered, values).scalars())
    else:
        # Under the write lock no one else inserts, and AUTOINCREMENT numbers the rows one after another.
        session.execute(insert(OutboxEvent), values)
        last = int(session.execute(_LAST_ROWID).scalar_one())
        ids = list(range(last - len(values) + 1, last + 1))
    return [(row_id, channel, data) for row_id, (channel, data) in zip(ids, messages, strict=True)]


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
        mark_seconds: float = 0.25,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._database = database
        self._publisher = publisher
        self._poll = poll_seconds
        self._retention = timedelta(seconds=retention_seconds)
        self._batch = batch_size
        self._mark_every = mark_seconds
        self._clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one batch at a time in this process
        self._last_prune = 0.0
        self._is_postgres = database.dialect == "postgresql"
        # Published and not yet marked (ids in order), and the last id published by this relay.
        self._unmarked: list[int] = []
        self._sent_upto = 0
        #: Rows this process committed and has not published yet, in commit order (``wake``).
        self._handed: list[OutboxRow] = []
        self._marked_at = time.monotonic()
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

    def wake(self, rows: Sequence[OutboxRow] = ()) -> None:
        """Ask for a pass now (called right after a commit, with the outbox rows it wrote)."""
        self._handed += rows
        self._wake.set()

    def _take_handed(self) -> list[OutboxRow] | None:
        """The handed rows if they continue what was published with no gap (else None: read the table)."""
        rows = [row for row in self._handed if row[0] > self._sent_upto]
        self._handed = []
        expected = self._sent_upto + 1
        for row_id, _, _ in rows:
            if row_id != expected:
                return None
            expected += 1
        return rows or None

    # -- the loop --------------------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = 0.0
        while True:
            if delay:
                await asyncio.sleep(delay)
            else:
                # Idle with rows published but unmarked: mark them after ``mark_seconds`` of quiet.
                wait = self._mark_every if self._unmarked else self._poll
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
            self._wake.clear()
            try:
                await self._publish_all()
                if self._unmarked and time.monotonic() - self._marked_at >= self._mark_every:
                    await self._mark()
                await self._prune_now_and_then()
                delay = 0.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The broker (or the database) is down: try again soon, then less often.
                delay = min(max(delay * 2, 0.05), 0.25)
                log.warning("outbox: relay pass failed (%s); retrying in %.2f s", exc, delay)

    async def drain(self) -> int:
        """Publish and mark every committed row now; return how many were published. Raises if the broker
        fails."""
        total = await self._publish_all()
        await self._mark()
        await self._prune_now_and_then()
        return total

    async def _publish_all(self) -> int:
        total = 0
        while True:
            count, more = await self._pass()
            total += count
            if not more:
                return total

    async def _prune_now_and_then(self) -> None:
        now = time.monotonic()
        if now - self._last_prune > 60.0:
            self._last_prune = now
            await self.prune()

    async def _mark(self) -> None:
        """Mark the rows published since the last mark (one write transaction)."""
        self._marked_at = time.monotonic()
        async with self._lock:
            ids = self._unmarked
            if not ids:
                return
            async with self._database.session() as session:
                await self._write_marks(session, ids)
            self._unmarked = []

    async def _pass(self) -> tuple[int, bool]:
        """One batch: claim the relay's turn, read the rows after the last published in id order, publish.

        PostgreSQL marks them in the turn's transaction, so another process's relay, next to take the turn,
        does not publish them again; SQLite (one process) leaves the marking to ``_mark``.
        """
        async with self._lock:
            # After the lock: the pass before this one may have moved ``_sent_upto`` on.
            query = (
                select(OutboxEvent.id, OutboxEvent.channel, OutboxEvent.data)
                .where(OutboxEvent.published_at.is_(None), OutboxEvent.id > self._sent_upto)
                .order_by(OutboxEvent.id)
                .limit(self._batch)
            )
            handed = self._take_handed()
            if not self._is_postgres:
                if handed is not None:
                    return await self._publish(handed)
                # A plain read (no write lock on SQLite): the message leaves as soon as its change commits.
                async with self._database.read_session() as reader:
                    rows = (await reader.execute(query)).all()
                return await self._publish(rows)
            async with self._database.sessionmaker() as session:
                # Another process's relay is at work: it publishes these rows in order; ours would only
                # produce duplicates for the broker to discard.
                claim = text("SELECT pg_try_advisory_xact_lock(:key)")
                if not await session.scalar(claim, {"key": _RELAY_LOCK}):
                    return 0, False
                turn = handed if handed is not None else (await session.execute(query)).all()
                try:
                    return await self._publish(turn)
                finally:
                    if self._unmarked:
                        await self._write_marks(session, self._unmarked)
                        await session.commit()
                        self._unmarked = []

    async def _publish(self, rows: Sequence[OutboxRow | Row[int, str, dict[str, Any]]]) -> tuple[int, bool]:
        """Publish ``rows`` in order and remember them as unmarked; (how many, whether a full batch)."""
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
            self._unmarked += published
            self._sent_upto = published[-1]
        if error is not None:
            self.failures += 1
            raise error
        return len(published), len(rows) == self._batch

    async def _write_marks(self, session: AsyncSession, ids: list[int]) -> None:
        done = update(OutboxEvent).where(OutboxEvent.id.in_(ids))
        await session.execute(done.values(published_at=self._clock()))

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
