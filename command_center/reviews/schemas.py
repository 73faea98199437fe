"""Request and response bodies of the reviews API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from command_center.limits import RequestBody
from command_center.reviews.rules import MIN_JUSTIFICATION, Rating


class OverrideCreate(RequestBody):
    model_config = ConfigDict(extra="forbid")

    check_id: str = Field(min_length=1, max_length=80)
    rating: Rating
    justification: str = Field(min_length=MIN_JUSTIFICATION, max_length=4000)


class FindingCreate(RequestBody):
    """An evaluator's finding (e.g. "信息共享不畅"): drafts a rectification item."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2000)
    department: str = Field(min_length=1, max_length=64)
    leader: str = Field(default="", max_length=64)
    deadline: AwareDatetime


class MeetingRecord(RequestBody):
    model_config = ConfigDict(extra="forbid")

    minutes: str = Field(min_length=1, max_length=20_000)
    held_at: AwareDatetime | None = Field(default=None, description="when it was held; default now")


class StatusChange(RequestBody):
    model_config = ConfigDict(extra="forbid")

    status: Literal["in_progress", "closed", "verified"]
    note: str = Field(default="", max_length=4000)


class EvidenceCreate(RequestBody):
    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1, max_length=4000)
    reference: str = Field(min_length=1, max_length=500, description="a URL or a document number (文号)")
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")


class ItemUpdate(RequestBody):
    model_config = ConfigDict(extra="forbid")

    department: str | None = Field(default=None, min_length=1, max_length=64)
    leader: str | None = Field(default=None, max_length=64)
    deadline: AwareDatetime | None = None


class EvidenceRead(BaseModel):
    id: int
    description: str
    reference: str
    sha256: str | None
    file_name: str | None = None
    file_size: int | None = None
    content_type: str | None = None
    added_at: datetime
    added_by: str


class HistoryRead(BaseModel):
    at: datetime
    from_status: str
    to_status: str
    note: str
    actor: str


class ItemRead(BaseModel):
    id: int
    review_id: int
    drill_id: int
    source: Literal["check", "finding"]
    check_id: str | None
    title: str
    department: str
    leader: str
    deadline: datetime
    status: Literal["open", "in_progress", "closed", "verified"]
    overdue: bool
    escalated_at: datetime | None
    closed_at: datetime | None
    verified_at: datetime | None
    created_at: datetime
    evidence: list[EvidenceRead]
    history: list[HistoryRead]


class CheckRead(BaseModel):
    check_id: str
    title_zh: str
    title_en: str
    stage: str
    department: str | None
    status: str
    elapsed: float | None
    score: float | None
    weight: float
    critical: bool
    fields_missing: list[str]
    rating: Rating | None = Field(description="the automatic rating (rubric)")
    override_rating: Rating | None
    override_justification: str
    override_by: str
    override_at: datetime | None
    effective_rating: Rating | None


class Progress(BaseModel):
    total: int
    by_status: dict[str, int]
    overdue: int
    percent_closed: float = Field(description="closed or verified, of all items")
    percent_verified: float


class ReviewRead(BaseModel):
    id: int
    drill_id: int
    drill: bool = True
    scenario_key: str
    scenario_title_zh: str
    scenario_title_en: str
    rubric_version: int
    finished_at: datetime
    overall: float | None
    rating: Rating | None
    capped: bool
    meeting_due_at: datetime
    meeting_held_at: datetime | None
    meeting_minutes: str
    meeting_late: bool = Field(description="held after the due time, or still not held after it")
    checks: list[CheckRead]
    items: list[ItemRead]
    progress: Progress


class TrendPoint(BaseModel):
    drill_id: int
    review_id: int
    finished_at: datetime
    elapsed: float | None
    score: float | None
    rating: Rating | None
    effective_rating: Rating | None


class CheckTrend(BaseModel):
    check_id: str
    title_zh: str
    title_en: str
    points: list[TrendPoint]
    elapsed_p50: float | None
    elapsed_p90: float | None


class Trends(BaseModel):
    scenario_key: str
    rubric_version: int
    drills: int
    checks: list[CheckTrend]
