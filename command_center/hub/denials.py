"""Denials on one connection, audited once per minute with a count (DESIGN.md section 4).

A client that asks again and again for what it may not have must not write an audit row per frame (1,500
rows in seconds was observed). In each window the first denial of each (channel, op), up to
``IMMEDIATE`` of them, is audited at once (count 1), so an ordinary refusal is on record immediately; every
other denial of the window is counted, and the count is written as one row when the window ends (the hub
sets a timer for it), or at the next denial after it, or when the connection closes. At most
``IMMEDIATE + 1`` rows per minute, whatever the client sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_SECONDS = 60.0
IMMEDIATE = 5


@dataclass(slots=True)
class Denied:
    """What to audit: the last channel and op refused, and how many refusals the row stands for."""

    channel: str
    op: str
    count: int


class DenialWindow:
    """Per connection: decide which denials are written, and with what count."""

    __slots__ = ("_clock", "_count", "_last", "_seen", "_started", "timer")

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.timer: asyncio.TimerHandle | None = None  # the hub's end-of-window flush
        self._started: float | None = None
        self._seen: set[tuple[str, str]] = set()  # audited at once in this window
        self._count = 0  # denials of this window not yet audited
        self._last: tuple[str, str] = ("", "")

    def deny(self, channel: str, op: str) -> list[Denied]:
        """Record one denial; return the rows to audit now (none, this one, and/or a window's summary)."""
        now = self._clock()
        rows: list[Denied] = []
        if self._started is not None and now - self._started >= WINDOW_SECONDS:
            rows.extend(self.flush())
        if self._started is None:
            self._started = now
        key = (channel, op)
        if key not in self._seen and len(self._seen) < IMMEDIATE:
            self._seen.add(key)
            rows.append(Denied(channel, op, 1))
        else:
            self._count += 1
            self._last = key
        return rows

    @property
    def counting(self) -> bool:
        """Denials wait to be written as the window's count."""
        return self._count > 0

    def due(self) -> bool:
        """The window is over (by the injected clock)."""
        return self._started is not None and self._clock() - self._started >= WINDOW_SECONDS

    def flush(self) -> list[Denied]:
        """End the window: the counted denials as one row (if any)."""
        rows = [Denied(*self._last, self._count)] if self._count else []
        self._started, self._count = None, 0
        self._seen.clear()
        return rows
