"""``command-center user add``: create an account from the command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from command_center.audit import service as audit
from command_center.auth import service as auth
from command_center.auth.roles import HUMAN_ROLES
from command_center.cli.common import load_settings
from command_center.db import Database
from command_center.errors import BadRequest
from command_center.migrate import upgrade


def register(commands: argparse._SubParsersAction) -> None:
    user = commands.add_parser("user", help="accounts")
    user_commands = user.add_subparsers(dest="user_command", required=True, metavar="USER_COMMAND")
    add = user_commands.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in HUMAN_ROLES])
    add.add_argument("--department", default="section", help="department code (default: section)")
    add.add_argument("--display-name", default="")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=run_user_add)


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
    settings = load_settings()
    password = _read_password(args.password_stdin)

    async def _run() -> None:
        database = Database(settings.database_url)
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
