"""Fixtures shared by every test: settings, a migrated and seeded database on SQLite or PostgreSQL, the app
and an HTTP client.

Each database-backed test gets a database holding exactly a template that was migrated and seeded once per
session (a file copy on SQLite; on PostgreSQL the worker's one database, reset to the template's rows before
each test, see ``tests.postgres_reuse``), so the suite runs the same tests on both backends without paying for
migrations or ``CREATE DATABASE`` each time.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from command_center import demo
from command_center.app import create_app
from command_center.auth import passwords
from command_center.db import Database
from command_center.migrate import upgrade
from command_center.settings import Settings
from tests import ordering
from tests.cheap_hashing import cheap_hasher
from tests.postgres_reuse import ReusedDatabase, execute_admin, url_of
from tests.services import postgres_available, require, start_worker_redis

TEST_SECRET = "test-secret-key-not-for-production"
#: The audit key every test database is seeded with (the key the settings fixture derives).
TEST_AUDIT_KEY = Settings(development=True, secret_key=TEST_SECRET).audit_key
DEMO_PASSWORD = demo.DEMO_PASSWORD


@pytest.fixture(autouse=True, scope="session")
def _worker_redis() -> Iterator[None]:
    """Under pytest-xdist, this worker's own redis-server for the session (see ``tests.services``)."""
    process = start_worker_redis()
    yield
    if process is not None:
        process.terminate()
        process.wait(10)


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Still Argon2id, with the smallest cost (``tests.cheap_hashing``)."""
    original = passwords._hasher
    passwords._hasher = cheap_hasher()
    yield
    passwords._hasher = original


async def _migrate_and_seed(url: str) -> None:
    database = Database(url, audit_key=TEST_AUDIT_KEY)
    try:
        await upgrade(database)
        async with database.session() as session:
            await demo.seed(session)
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory, _cheap_password_hashing: None) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(_migrate_and_seed(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template(_cheap_password_hashing: None) -> Iterator[str]:
    require("postgresql", postgres_available())
    name = f"cc_template_{uuid.uuid4().hex[:8]}"
    asyncio.run(execute_admin(f'CREATE DATABASE "{name}"'))
    asyncio.run(_migrate_and_seed(url_of(name)))
    yield name
    asyncio.run(execute_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated, demo-seeded database; every test using it runs once per backend."""
    if request.param == "sqlite":
        path = tmp_path / "cc.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    yield asyncio.run(request.getfixturevalue("postgres_database").fresh())


@pytest.fixture(scope="session")
def postgres_database(postgres_template: str) -> Iterator[ReusedDatabase]:
    """The worker's PostgreSQL database, reset to the template before each test (``tests.postgres_reuse``)."""
    database = ReusedDatabase(postgres_template)
    yield database
    asyncio.run(database.drop())


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        development=True,
        secret_key=TEST_SECRET,
        database_url=database_url,
        broker_url="memory://",
        recordings_dir=tmp_path / "recordings",
        audit_anchor_path=tmp_path / "audit-anchor.jsonl",
        # Most drill tests run whole drills in seconds; tests of the minimum window set it themselves.
        drill_min_window_minutes=0,
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[object]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]

    async def relay_events(response: httpx.Response) -> None:
        """Let the outbox relay publish what the request committed, so tests may assert at once."""
        outbox = getattr(app.state, "outbox", None)  # type: ignore[attr-defined]
        if outbox is not None:
            await outbox.drain()

    hooks = {"response": [relay_events]}
    base = "http://testserver"
    async with httpx.AsyncClient(transport=transport, base_url=base, event_hooks=hooks) as http:
        yield http


async def token_for(client: httpx.AsyncClient, name: str, password: str = DEMO_PASSWORD) -> str:
    response = await client.post("/api/auth/token", data={"username": name, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def login(client: httpx.AsyncClient):  # type: ignore[no-untyped-def]
    """``await login("commander")`` -> headers carrying that demo user's bearer token."""

    async def _login(name: str, password: str = DEMO_PASSWORD) -> dict[str, str]:
        return bearer(await token_for(client, name, password))

    return _login


class PublishedEvents(list):  # type: ignore[type-arg]
    """Every (channel, data) the app published on its hub during a test, in order."""

    def of_type(self, type_: str) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
        return [(channel, data) for channel, data in self if data.get("type") == type_]

    def channels_of(self, type_: str) -> set[str]:
        return {channel for channel, _ in self.of_type(type_)}


@pytest.fixture
def published(app) -> PublishedEvents:  # type: ignore[no-untyped-def]
    """Record hub publishes (wrapping the real hub when the app has one)."""
    record = PublishedEvents()
    hub = getattr(app.state, "hub", None)
    original = getattr(hub, "publish", None)

    async def publish(channel: str, data: dict, **options: object) -> object:  # type: ignore[type-arg]
        record.append((channel, data))
        return await original(channel, data, **options) if original is not None else None

    original_many = getattr(hub, "publish_many", None)

    async def publish_many(items: list) -> object:  # type: ignore[type-arg]
        """The outbox relay's path: one call per batch of committed events."""
        record.extend((channel, data) for channel, data, _ in items)
        return await original_many(items) if original_many is not None else None

    if original_many is not None:
        hub.publish_many = publish_many
    if hub is None:

        class _Recorder:
            pass

        hub = _Recorder()
        app.state.hub = hub
    hub.publish = publish
    return record


@pytest.fixture
async def live_server(app):  # type: ignore[no-untyped-def]
    """Serve the test's app over real sockets (for WebSocket clients); yields the base http URL."""
    import socket

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


def pytest_configure(config: pytest.Config) -> None:
    ordering.register(config)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests last, and the longest files first within each group (``tests.ordering``)."""
    ordering.order(items, ordering.load_table())


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Make pytest-cov's ``no_cover`` hold in xdist workers too: no coverage traces the test.

    pytest-cov 7 starts two measurements in a worker (one when it reads the command line, which still says
    ``-n 2``, and the worker's own at session start). Its ``no_cover`` stops the second, and stopping it
    resumes the first, so a ``no_cover`` test ran traced all the same (``test_queueing.py`` 64 s instead
    of 15 s). This runs inside pytest-cov's wrapper and stops whatever measurement is still current, then
    starts it again after the test, which leaves the stack as pytest-cov expects to find it.
    """
    stopped = []
    if item.get_closest_marker("no_cover") is not None:
        import coverage

        while (measurement := coverage.Coverage.current()) is not None:
            measurement.stop()
            stopped.append(measurement)
    try:
        yield
    finally:
        for measurement in reversed(stopped):
            measurement.start()
