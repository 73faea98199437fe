"""``command-center audit verify``: check the audit log's hash chain."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from command_center.audit.service import ChainReport


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser("audit", help="the hash-chained audit log")
    group_commands = group.add_subparsers(dest="audit_command", required=True, metavar="AUDIT_COMMAND")
    verify = group_commands.add_parser(
        "verify",
        help="check every link and the signed checkpoints (CC_AUDIT_ANCHOR_PATH, Redis); report the first "
        "broken link, a truncation or a forgery",
    )
    verify.set_defaults(func=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from command_center.audit import anchor
    from command_center.audit import service as audit
    from command_center.cli.common import load_settings
    from command_center.db import Database

    settings = load_settings()

    async def _run() -> ChainReport:
        database = Database.from_settings(settings)
        try:
            await database.check()
            checkpoints = await anchor.read_all(settings)
            async with database.session() as session:
                return await audit.verify(session, checkpoints=checkpoints)
        finally:
            await database.dispose()

    report = asyncio.run(_run())
    if report.ok:
        print(
            f"audit log intact: {report.entries} entries, every link verified, "
            f"{report.checkpoints} signed checkpoints hold"
        )
        if report.legacy:
            print(
                f"note: the first {report.legacy} entries predate the keyed chain (plain SHA-256); "
                "the keyed entries and the checkpoints after them protect them"
            )
        if not report.checkpoints:
            print(
                f"warning: no signed checkpoint found ({settings.audit_anchor_path}): a deletion of the "
                "newest entries cannot be ruled out"
            )
        return 0
    print(
        f"audit log BROKEN at entry {report.first_broken_seq}: {report.reason} "
        f"({report.entries} entries before it verified)"
    )
    return 1
