"""``command-center user add|deactivate|reactivate|reset-password``: accounts from the command line.

Changes made here are audited as the system (no signed-in user), marked ``"via": "cli"``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from command_center.auth.roles import HUMAN_ROLES
from command_center.errors import BadRequest

if TYPE_CHECKING:
    from command_center.db import Database


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = commands.add_parser("user", help="accounts")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="USER_COMMAND")
    add = user_commands.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in HUMAN_ROLES])
    add.add_argument("--department", default="section", help="department code (default: section)")
    add.add_argument("--display-name", default="")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=run_user_add)
    for name, help_text, active in (
        ("deactivate", "disable an account and revoke every token it holds", False),
        ("reactivate", "let a deactivated account sign in again", True),
    ):
        command = user_commands.add_parser(name, help=help_text)
        command.add_argument("name")
        command.set_defaults(func=run_set_active, active=active)
    reset = user_commands.add_parser("reset-password", help="set a new password; revokes the user's tokens")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    reset.set_defaults(func=run_reset_password)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise BadRequest("the two passwords differ")
    if not password:
        raise BadRequest("empty password")
    return password


def run_user_add(args: argparse.Namespace) -> int:
    from command_center.audit import service as audit
    from command_center.auth import service as auth
    from command_center.cli.common import load_settings
    from command_center.db import Database
    from command_center.migrate import upgrade

    settings = load_settings()
    password = _read_password(args.password_stdin)

    async def _run() -> None:
        database = Database.from_settings(settings)
        try:
            await upgrade(database)
            async with database.session() as session:
                user = await auth.create_user(
                    session,
                    name=args.name,
                    role=args.role,
                    department=args.department,
                    password=password,
                    display_name=args.display_name,
                )
                await audit.record(
                    session,
                    action="user.create",
                    target=f"user:{user.name}",
                    detail={"role": user.role, "department": args.department, "via": "cli"},
                )
        finally:
            await database.dispose()

    asyncio.run(_run())
    print(f"user {args.name} ({args.role}, {args.department}) created")
    return 0


def _with_database(work: Callable[[Database], Awaitable[None]]) -> None:
    from command_center.cli.common import load_settings
    from command_center.db import Database
    from command_center.migrate import upgrade

    settings = load_settings()

    async def _run() -> None:
        database = Database.from_settings(settings)
        try:
            await upgrade(database)
            await work(database)
        finally:
            await database.dispose()

    asyncio.run(_run())


def run_set_active(args: argparse.Namespace) -> int:
    from command_center.auth import accounts

    async def work(database: Database) -> None:
        async with database.session() as session:
            await accounts.set_active(session, actor=None, user=args.name, active=args.active)

    _with_database(work)
    print(f"user {args.name} {'reactivated' if args.active else 'deactivated; every token revoked'}")
    return 0


def run_reset_password(args: argparse.Namespace) -> int:
    from command_center.auth import accounts

    password = _read_password(args.password_stdin)

    async def work(database: Database) -> None:
        await accounts.reset_password(database, actor=None, user=args.name, password=password)

    _with_database(work)
    print(f"password of {args.name} reset; its tokens are revoked")
    return 0
