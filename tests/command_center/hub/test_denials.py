"""Denial auditing per connection: at most a few rows a minute, with a count (pure, on an injected clock)."""

from __future__ import annotations

from command_center.hub.denials import IMMEDIATE, WINDOW_SECONDS, DenialWindow, Denied


def test_a_flood_of_denials_writes_a_few_rows_and_one_count() -> None:
    now = [0.0]
    window = DenialWindow(lambda: now[0])
    rows: list[Denied] = []
    for n in range(1500):  # the observed flood: 1,500 denied subscribes in seconds
        rows += window.deny(f"user:junk-{n % 50}", "subscribe")
    assert len(rows) == IMMEDIATE and all(row.count == 1 for row in rows)
    assert window.counting and not window.due()
    now[0] = WINDOW_SECONDS
    assert window.due()
    # The next denial after the window ends writes the window's count, and opens a new window.
    rows = window.deny("board", "subscribe")
    assert [(r.count, r.op) for r in rows] == [(1500 - IMMEDIATE, "subscribe"), (1, "subscribe")]
    assert rows[1].channel == "board"


def test_flush_writes_what_was_counted_once() -> None:
    window = DenialWindow(lambda: 0.0)
    assert window.deny("ledger", "subscribe") == [Denied("ledger", "subscribe", 1)]
    assert window.deny("ledger", "subscribe") == []
    assert window.flush() == [Denied("ledger", "subscribe", 1)]
    assert window.flush() == []
