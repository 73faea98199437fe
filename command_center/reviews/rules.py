"""The review's fixed rules: meeting and rectification periods, item statuses and their transitions."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Literal

#: DOMAIN.md: the review meeting is held within 3 days of the drill; remind a day before.
MEETING_DUE = timedelta(days=3)
MEETING_WARN = timedelta(days=1)
#: Default deadline of a drafted rectification item, counted from the drill's end (or from the moment it is
#: drafted, for items drafted later); the meeting sets the real one with PATCH.
RECTIFICATION_DUE = timedelta(days=30)
RECTIFICATION_WARN = timedelta(days=3)
#: Department of drafted items whose check names none: the section owns the drill.
DEFAULT_DEPARTMENT = "section"
#: Ratings that draft a rectification item (DESIGN.md section 8).
NEEDS_RECTIFICATION = frozenset({"M", "U"})
MIN_JUSTIFICATION = 10

Rating = Literal["P", "S", "M", "U"]


class ItemStatus(StrEnum):
    open = "open"
    in_progress = "in_progress"
    closed = "closed"  # closed with evidence (销号)
    verified = "verified"  # checked by a second reviewer


#: Allowed moves. ``closed -> in_progress`` reopens an item whose evidence did not convince the verifier.
TRANSITIONS: dict[ItemStatus, frozenset[ItemStatus]] = {
    ItemStatus.open: frozenset({ItemStatus.in_progress, ItemStatus.closed}),
    ItemStatus.in_progress: frozenset({ItemStatus.closed}),
    ItemStatus.closed: frozenset({ItemStatus.verified, ItemStatus.in_progress}),
    ItemStatus.verified: frozenset(),
}

DONE = frozenset({ItemStatus.closed, ItemStatus.verified})

STATUS_NAMES = {
    ItemStatus.open: "待整改",
    ItemStatus.in_progress: "整改中",
    ItemStatus.closed: "已销号",
    ItemStatus.verified: "已核验",
}

STAGE_NAMES = {
    "information_report": "信息报告",
    "on_site_control": "现场管控",
    "de_escalation": "情绪疏导",
    "response_to_demands": "诉求回应",
    "follow_up": "后续跟进",
}
