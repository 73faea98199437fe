"""The order test files run in: longest first, browser tests last, from durations measured on earlier runs.

The README's command hands whole files to two xdist workers in collection order (``--dist loadfile
--no-loadscope-reorder``). When the last file handed out is a long one, one worker runs it alone while the
other idles: the suite ends when that file ends. Handing out the longest files first (the classic
longest-processing-time rule) leaves only short files for the end, where they fill both workers evenly.

Every run records how long each file took (setup, call and teardown of its tests) in
``test-artifacts/durations.json``; ``python -m tests.ordering`` merges that record into the checked-in table
``tests/durations.json`` that the order is taken from. A file missing from the table (a new one) counts as
the median file, so it neither jumps the queue nor waits for the end.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tests" / "durations.json"
RECORD = ROOT / "test-artifacts" / "durations.json"


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0].replace("\\", "/")


def is_browser_test(path: str) -> bool:
    # Sync Playwright keeps a loop of its own on the worker's main thread for the rest of the session,
    # which an asyncio test after it would trip over: browser tests go after every other test.
    return path.startswith("tests/e2e/")


def load_table(path: Path = TABLE) -> dict[str, float]:
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {str(name): float(seconds) for name, seconds in table.items()}


def order(items: list[pytest.Item], table: dict[str, float]) -> None:
    """Sort ``items`` in place: other tests before browser tests, each group longest file first.

    Tests of one file keep their relative order (the sort is stable and keys only on the file).
    """
    typical = statistics.median(table.values()) if table else 0.0
    items.sort(
        key=lambda item: (
            is_browser_test(file_of(item.nodeid)),
            -table.get(file_of(item.nodeid), typical),
            file_of(item.nodeid),
        )
    )


class DurationRecorder:
    """Adds up each file's test time and writes it when the session ends.

    Registered where every report arrives: the xdist controller (workers forward theirs to it), or the one
    process of a run without workers.
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[file_of(report.nodeid)] += report.duration

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.seconds:
            RECORD.parent.mkdir(parents=True, exist_ok=True)
            RECORD.write_text(json.dumps(dict(sorted(self.seconds.items())), indent=1), encoding="utf-8")


def register(config: pytest.Config) -> None:
    if "PYTEST_XDIST_WORKER" not in os.environ:
        config.pluginmanager.register(DurationRecorder(), "file-durations")


def merge(record: dict[str, float], table: dict[str, float]) -> dict[str, float]:
    """The table updated with the files the record measured (a file measured anew replaces its old time)."""
    merged = {**table, **{name: round(seconds, 1) for name, seconds in record.items()}}
    return {name: merged[name] for name in sorted(merged) if (ROOT / name).exists()}


def main() -> None:
    if not RECORD.exists():
        sys.exit(f"no record at {RECORD}: run the README's test command first")
    table = merge(load_table(RECORD), load_table())
    TABLE.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"{TABLE.relative_to(ROOT)}: {len(table)} files, {sum(table.values()):.0f} s in all")


if __name__ == "__main__":
    main()
