"""Database engine, sessions and the column types every model shares.

SQLite is the default so the platform runs with nothing installed; PostgreSQL is switched on by URL.
Times are stored as timezone-aware UTC; SQLite hands back naive datetimes, so :class:`UTCDateTime`
normalises them at the model boundary and callers never have to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from command_center.errors import ServiceUnavailable
from command_center.settings import Settings, redact_url

__all__ = ["Base", "Database", "JSONType", "UTCDateTime", "utcnow"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with deterministic constraint names, so Alembic migrations are portable."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC on the Python side, whatever the database returns."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; pass an aware datetime")
        value = value.astimezone(UTC)
        # SQLite stores text; keep it naive-UTC there so comparisons in SQL stay lexicographic.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _utc_on_set(class_: type, key: str, inst: Any) -> None:
    """Make every :class:`UTCDateTime` attribute UTC the moment it is set, not only once it is reloaded.

    Without this a row that was just created still held the caller's offset (``+08:00``) until it was read
    back, so a POST echoed that offset while the GET of the same row said ``Z``; the API speaks UTC.
    """
    columns = getattr(inst.property, "columns", None)
    if not columns or not isinstance(columns[0].type, UTCDateTime):
        return

    def to_utc(_target: Any, value: Any, _old: Any, _initiator: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value

    event.listen(inst, "set", to_utc, retval=True)


event.listen(Base, "attribute_instrument", _utc_on_set)

JSONType = JSON().with_variant(JSON(none_as_null=True), "postgresql")


class Database:
    """One async engine and its session factory, created in the app's lifespan and disposed there."""

    def __init__(self, url: str, *, echo: bool = False, audit_key: bytes | None = None) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        connect_args: dict[str, Any] = {}
        kwargs: dict[str, Any] = {}
        if self.dialect == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            connect_args["timeout"] = 30
            if database and database != ":memory:":
                # One writer connection, handed over in FIFO order the moment it is returned. With several,
                # a transaction blocked at BEGIN IMMEDIATE waits in SQLite's busy handler, which sleeps and
                # retries (1, 2, 5, 10, 15, 20, 25 ms ...): the fourth of four concurrent writes noticed the
                # lock was free up to 25 ms late (RESULTS.md, "Session of 2026-12-01"). Waiting for the
                # connection costs nothing and wakes at once; SQLite's lock still guards other processes.
                kwargs.update(pool_size=1, max_overflow=0, pool_timeout=30)
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(url, echo=echo, connect_args=connect_args, **kwargs)
        #: Where read-only work goes (``read_session``): the same engine, except for a SQLite file.
        self.reader: AsyncEngine = self.engine
        if self.dialect == "sqlite":
            _serialise_sqlite_writers(self.engine)
            if parsed.database and parsed.database != ":memory:":
                # Plain WAL readers: they never take the write lock, so they never queue behind writers.
                self.reader = create_async_engine(url, echo=echo, connect_args=connect_args)
                _configure_sqlite(self.reader)
                # A deferred BEGIN: one consistent snapshot for the session's reads, and no lock taken.
                event.listen(self.reader.sync_engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        # The audit log's key rides on every session (``session.info``), so ``audit.record`` can chain an
        # entry in any transaction without each caller passing the key along.
        self.info: dict[str, Any] = {"audit_key": audit_key} if audit_key is not None else {}
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False, info=self.info)
        self._read_sessionmaker = async_sessionmaker(self.reader, expire_on_commit=False, info=self.info)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The one way the application opens its database: the URL and the audit key, both from settings."""
        return cls(settings.database_url, audit_key=settings.audit_key)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on success and rolls back on any error."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A session for reads alone (it is rolled back at the end, never committed).

        On SQLite every transaction of ``session`` takes the write lock at BEGIN, so a read as frequent as
        resolving each request's bearer token would queue behind, and hold up, every writer: measured as
        the tail of ``POST /api/incidents`` (benchmarks/RESULTS.md, "Outbox"). This one reads the last
        committed state without the lock. On PostgreSQL it is an ordinary session.
        """
        async with self._read_sessionmaker() as session:
            try:
                yield session
            finally:
                await session.rollback()

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def check(self) -> None:
        """Raise :class:`ServiceUnavailable` naming the URL (password hidden) if the database is down."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            raise ServiceUnavailable(self.unreachable_message(exc)) from exc

    def unreachable_message(self, exc: BaseException) -> str:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        hint = (
            "check that the folder exists and is writable"
            if self.dialect == "sqlite"
            else "check that the server is running and reachable, and the user, password and database name"
        )
        first = reason[0][:300] if reason else type(exc).__name__
        return f"cannot reach the database at {redact_url(self.url)}: {first}; {hint} (CC_DATABASE_URL)"

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.reader is not self.engine:
            await self.reader.dispose()


def _serialise_sqlite_writers(engine: AsyncEngine) -> None:
    """Make every SQLite transaction ``BEGIN IMMEDIATE``; turn on WAL, foreign keys and a busy timeout.

    pysqlite's deferred transactions let two writers read the same "last row" and then fail or fork
    (the audit chain reads its predecessor before appending). Taking the write lock at BEGIN makes
    writers queue instead; WAL keeps plain readers unblocked. This is SQLAlchemy's documented recipe.
    """
    _configure_sqlite(engine)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL, foreign keys and a busy timeout on every connection; transactions begun by us, not pysqlite."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL never corrupts the file; a power cut may lose the last commits. SQLite is the
        # single-machine default; deployments that must not lose a commit run PostgreSQL.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
