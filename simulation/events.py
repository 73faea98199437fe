"""The drill event log: plain records of what was released and what the responders did, and when.

Both are what the live system stores; scoring and the live engine's restart are pure functions of them.
Times are timezone-aware UTC wall-clock datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["InjectReleased", "ObservedAction"]


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("drill event times must be timezone-aware (UTC)")


@dataclass(frozen=True, slots=True)
class InjectReleased:
    """The inject ``inject_id`` reached the responders at ``at``; check clocks start here."""

    inject_id: str
    at: datetime

    def __post_init__(self) -> None:
        _require_aware(self.at)


@dataclass(frozen=True, slots=True)
class ObservedAction:
    """A responder did ``action`` (e.g. ``report.written``) at ``at``, the wall-clock time it happened.

    ``fields`` are the names of the fields the action carried (for ``report.written``: ``headcount``,
    ``demands``, ``dynamics``); ``department`` is the acting department, used by checks that name one;
    ``role`` is the actor's role: only the check's ``owner_role`` satisfies it (DESIGN.md section 7).
    """

    action: str
    at: datetime
    actor: str | None = None
    fields: frozenset[str] = field(default_factory=frozenset)
    department: str | None = None
    inject_id: str | None = None
    incident: str | None = None
    role: str | None = None

    def __post_init__(self) -> None:
        _require_aware(self.at)
        if not isinstance(self.fields, frozenset):
            object.__setattr__(self, "fields", frozenset(self.fields))
