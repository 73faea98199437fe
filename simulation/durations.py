"""Strict ISO-8601 durations (the ``PnDTnHnMnS`` subset, plus ``PnW``) as used in scenario files.

Pydantic's own timedelta parsing also accepts plain numbers and ``HH:MM:SS``; a drill organizer who writes
``10`` or ``10 min`` must be told to write ``PT10M`` instead, so the scenario model uses this parser.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["DURATION_PATTERN", "format_duration", "parse_duration"]

DURATION_PATTERN = (
    r"^P(?!$)(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?"
    r"(?:T(?=\d)(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)
_DURATION = re.compile(DURATION_PATTERN)


def parse_duration(text: str) -> timedelta:
    """Parse ``PT10M``, ``PT1H30M``, ``P1DT2H``, ``PT45S`` or ``P2W``; raise ``ValueError`` otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO-8601 duration such as PT10M, got {text!r}")
    match = _DURATION.match(text.strip())
    if match is None or text.strip().endswith("T"):
        raise ValueError(f"{text!r} is not an ISO-8601 duration (write e.g. PT10M, PT1H30M, P1D)")
    weeks, days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Format a non-negative timedelta as the shortest ``PnDTnHnMnS`` string (``PT0M`` for zero)."""
    total = value.total_seconds()
    if total < 0:
        raise ValueError("durations in scenario files are never negative")
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    out = "P" + (f"{int(days)}D" if days else "")
    time_part = ""
    if hours:
        time_part += f"{int(hours)}H"
    if minutes:
        time_part += f"{int(minutes)}M"
    if seconds:
        time_part += f"{seconds:g}S"
    if time_part or not days:
        out += "T" + (time_part or "0M")
    return out
