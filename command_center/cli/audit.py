"""``command-center audit verify``: check the audit log's hash chain."""

from __future__ import annotations

import argparse
import asyncio

from command_center.audit import service as audit
from command_center.audit.service import ChainReport
from command_center.cli.common import load_settings
from command_center.db import Database


def register(commands: argparse._SubParsersAction) -> None:
    group = commands.add_parser("audit", help="the hash-chained audit log")
    group_commands = group.add_subparsers(dest="audit_command", required=True, metavar="AUDIT_COMMAND")
    verify = group_commands.add_parser("verify", help="check every link; report the first broken one")
    verify.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def _run() -> ChainReport:
        database = Database(settings.database_url)
        try:
            await database.check()
            async with database.session() as session:
                return await audit.verify(session)
        finally:
            await database.dispose()

    report = asyncio.run(_run())
    if report.ok:
        print(f"audit log intact: {report.entries} entries, every link verified")
        return 0
    print(
        f"audit log BROKEN at entry {report.first_broken_seq}: {report.reason} "
        f"({report.entries} entries before it verified)"
    )
    return 1
