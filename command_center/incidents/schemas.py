"""Request and response bodies of the incidents API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from command_center.incidents.rules import Category, Stage, TeamRole, ZoneKind
from command_center.limits import Id, RequestBody

Text = Field(default="", max_length=4000)
TeamName = Annotated[str, Field(min_length=1, max_length=100)]


class Location(RequestBody):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class IncidentCreate(RequestBody):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    category: Category
    address: str = Field(default="", max_length=300)
    location: Location | None = None
    headcount: int | None = Field(default=None, ge=0, le=100_000)
    demands: str = Text
    dynamics: str = Text
    first_department: str | None = Field(default=None, max_length=64, description="defaults to the caller's")
    departments: list[str] = Field(default_factory=list, max_length=20)
    started_at: AwareDatetime | None = Field(default=None, description="when the matter began; default now")
    ledger_item_id: Id | None = None


class ReportCreate(RequestBody):
    """A phone report (电话报告, within 10 minutes) or a written report (书面报告, within 30 minutes)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["phone", "written"]
    headcount: int | None = Field(default=None, ge=0, le=100_000)
    demands: str = Text
    dynamics: str = Text
    note: str = Text


class StageChange(RequestBody):
    model_config = ConfigDict(extra="forbid")

    stage: Stage
    reason: str = Field(default="", max_length=1000, description="required when a stage is skipped")


class Zone(RequestBody):
    model_config = ConfigDict(extra="forbid")

    kind: ZoneKind
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_m: float = Field(gt=0, le=5000)
    teams: list[TeamName] = Field(default_factory=list, max_length=20)
    note: str = Field(default="", max_length=500)


class ZonesRecord(RequestBody):
    model_config = ConfigDict(extra="forbid")

    zones: list[Zone] = Field(min_length=1, max_length=3)


class TeamMember(RequestBody):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: TeamRole
    organisation: str = Field(default="", max_length=200)


class TeamAssemble(RequestBody):
    """The soft working group (柔性工作组) for emotional de-escalation."""

    model_config = ConfigDict(extra="forbid")

    members: list[TeamMember] = Field(min_length=1, max_length=30)


class ActionNote(RequestBody):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=4000)
    due_at: AwareDatetime | None = None


class EventRead(BaseModel):
    id: int
    at: datetime
    action: str
    actor_name: str
    actor_role: str
    actor_department: str
    detail: dict[str, Any]
    drill: bool


class IncidentRead(BaseModel):
    id: int
    title: str
    category: Category
    stage: Stage
    address: str
    location: Location | None
    headcount: int | None
    demands: str
    dynamics: str
    first_department: str
    departments: list[str]
    online_track: bool
    started_at: datetime
    created_at: datetime
    closed_at: datetime | None
    drill: bool
    drill_id: int | None
    ledger_item_id: int | None
    created_by_id: int | None = Field(default=None, description="who opened it (a phone picks its own)")
    zones: dict[str, Any]
    team: list[dict[str, Any]]
    deadlines: list[dict[str, Any]] = Field(default_factory=list)


class IncidentStats(BaseModel):
    """Real-world statistics: drill incidents are never counted (DOMAIN.md)."""

    total: int
    open: int
    by_category: dict[str, int]
    by_stage: dict[str, int]
