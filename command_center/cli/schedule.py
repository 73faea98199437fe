"""``command-center drill schedule FILE... --window START/END``: a double-blind drill from the command line.

It prints the drill's id and the commitment only: whoever runs it learns neither the drawn time nor the
drawn scenario, exactly like the participants.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime, timedelta
from pathlib import Path

from command_center.errors import BadRequest


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    schedule = sub.add_parser("schedule", help="schedule a double-blind drill from a pool of scenario files")
    schedule.add_argument("files", nargs="+", metavar="FILE")
    schedule.add_argument(
        "--window",
        required=True,
        type=_window,
        metavar="START/END",
        help="ISO-8601 times with zone, e.g. 2026-12-01T09:00+08:00/2026-12-20T18:00+08:00",
    )
    schedule.add_argument(
        "--time-scale", type=float, default=1.0, help="compression for rehearsals (default 1)"
    )
    schedule.add_argument(
        "--single-scenario",
        action="store_true",
        help="allow a pool of one scenario (the scenario is then no surprise); recorded in the audit log",
    )
    schedule.set_defaults(func=run_schedule)


def _window(text: str) -> tuple[datetime, datetime]:
    start, sep, end = text.partition("/")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: write START/END")
    try:
        parsed = datetime.fromisoformat(start), datetime.fromisoformat(end)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    if any(p.tzinfo is None for p in parsed):
        raise argparse.ArgumentTypeError("give a time zone, e.g. +08:00 or Z")
    return parsed


def run_schedule(args: argparse.Namespace) -> int:
    from command_center.cli.common import load_settings
    from command_center.db import Database
    from command_center.drills import scenarios, service
    from command_center.drills.schemas import DrillSchedule
    from command_center.migrate import upgrade

    settings = load_settings()
    texts = []
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            raise BadRequest(f"{name}: no such file")
        texts.append((path.name, path.read_text(encoding="utf-8")))

    async def _run() -> tuple[int, str]:
        database = Database.from_settings(settings)
        try:
            await upgrade(database)
            async with database.session() as session:
                keys = [
                    (await scenarios.upload(session, text=t, filename=n, principal=None)).key
                    for n, t in texts
                ]
                drill = await service.schedule(
                    session,
                    principal=None,
                    data=DrillSchedule(
                        window_start=args.window[0],
                        window_end=args.window[1],
                        scenarios=keys,
                        single_scenario=args.single_scenario,
                        time_scale=args.time_scale,
                    ),
                    min_window=timedelta(minutes=settings.drill_min_window_minutes),
                )
                return drill.id, drill.commitment
        finally:
            await database.dispose()

    drill_id, commitment = asyncio.run(_run())
    print(f"drill {drill_id} scheduled (double-blind); commitment SHA-256: {commitment}")
    return 0
