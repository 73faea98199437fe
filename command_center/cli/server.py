"""``command-center demo | serve | db upgrade``: start the platform and manage its schema."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import TYPE_CHECKING

from command_center.errors import BadRequest

if TYPE_CHECKING:
    from command_center.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo", help="run on the embedded defaults with demo data (SQLite, memory broker)"
    )
    demo.add_argument("--host", default=None)
    demo.add_argument("--port", type=int, default=None)
    demo.add_argument("--no-serve", action="store_true", help="load the demo data and exit")
    demo.set_defaults(func=run_demo)

    serve = commands.add_parser("serve", help="production start (migrates the database first)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=1, help="more than 1 needs Redis (CC_BROKER_URL)")
    serve.set_defaults(func=run_serve)

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    up = db_commands.add_parser("upgrade", help="apply Alembic migrations up to the newest schema")
    up.set_defaults(func=run_db_upgrade)


async def _prepare(settings: Settings, *, with_demo: bool) -> list[str]:
    from command_center import demo as demo_data
    from command_center.db import Database
    from command_center.demo_incidents import seed_incidents
    from command_center.migrate import upgrade

    database = Database.from_settings(settings)
    try:
        await upgrade(database)
        if not with_demo:
            return []
        async with database.session() as session:
            added = await demo_data.seed(session, settings.language)
        async with database.session() as session:
            return added + await seed_incidents(session, settings, settings.language)
    finally:
        await database.dispose()


def run_db_upgrade(args: argparse.Namespace) -> int:
    from command_center.cli.common import load_settings
    from command_center.db import Database
    from command_center.migrate import current_revision, upgrade

    settings = load_settings()

    async def _run() -> str | None:
        database = Database.from_settings(settings)
        try:
            await upgrade(database)
            return await current_revision(database)
        finally:
            await database.dispose()

    revision = asyncio.run(_run())
    print(f"database {settings.database_url_redacted} is at revision {revision}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from command_center import demo as demo_data
    from command_center.cli.common import load_settings

    overrides: dict[str, object] = {}
    if "CC_SECRET_KEY" not in os.environ and "CC_DEVELOPMENT" not in os.environ:
        overrides["development"] = True  # a local trial: the placeholder secret is acceptable
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    settings = load_settings(**overrides)
    added = asyncio.run(_prepare(settings, with_demo=True))
    base = f"http://{settings.host}:{settings.port}"
    print("指挥与演练平台 Command Center — demo")
    print(f"  database: {settings.database_url_redacted} ({len(added)} demo rows added)")
    print(f"  broker:   {settings.broker_url_redacted}")
    print(f"  pages:    {base}/            (sign-in, command board, video wall, drills)")
    print(f"  API docs: {base}/docs")
    print(f"  health:   {base}/healthz")
    print(f"  demo logins (password for all: {demo_data.DEMO_PASSWORD}):")
    for user in demo_data.USERS:
        print(f"    {user.name:<10} {user.role.value:<14} {user.department:<16} {user.display_name}")
    if args.no_serve:
        return 0
    _start_uvicorn(settings, workers=1)
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from command_center.cli.common import load_settings

    overrides: dict[str, object] = {}
    if args.host:
        overrides["host"] = args.host
    if args.port:
        overrides["port"] = args.port
    settings = load_settings(**overrides)
    if args.workers < 1:
        raise BadRequest("--workers must be at least 1")
    if args.workers > 1 and settings.broker_url.startswith("memory"):
        raise BadRequest(
            "--workers > 1 needs a shared broker: set CC_BROKER_URL=redis://HOST:6379/0 "
            "(the memory broker lives inside one process)"
        )
    if args.workers > 1 and settings.is_sqlite:
        raise BadRequest("--workers > 1 needs PostgreSQL: set CC_DATABASE_URL=postgresql+asyncpg://...")
    asyncio.run(_prepare(settings, with_demo=False))
    _start_uvicorn(settings, workers=args.workers)
    return 0


def _start_uvicorn(settings: Settings, *, workers: int) -> None:
    import uvicorn

    from command_center.hub.upgrade import HTTP_PROTOCOL
    from command_center.hub.wire import PROTOCOL as WS_PROTOCOL

    # Workers re-read the settings from the environment, so pass what the command line overrode.
    os.environ["CC_HOST"] = settings.host
    os.environ["CC_PORT"] = str(settings.port)
    os.environ["CC_SERVE_WORKERS"] = str(workers)
    if settings.development:
        os.environ.setdefault("CC_DEVELOPMENT", "true")
    uvicorn.run(
        "command_center.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="info",
        # The hub enforces its own, smaller frame limit with a clear error frame; uvicorn's must be above it.
        ws_max_size=max(settings.ws_max_frame_bytes * 4, 1 << 20),
        # Compression costs CPU per subscriber and ~30 KB per connection; the hub serialises each message
        # once and sends the same text to everyone, so it stays off.
        ws_per_message_deflate=False,
        # The hub writes each broadcast message's frame bytes, built once, to every subscriber.
        ws=WS_PROTOCOL,
        # ... and takes its upgrades over as parsed once by the HTTP protocol (hub/upgrade.py).
        http=HTTP_PROTOCOL,
        proxy_headers=True,
    )
