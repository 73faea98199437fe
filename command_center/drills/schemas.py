"""Request and response bodies of the drills API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from command_center.limits import RequestBody


class ScenarioUpload(RequestBody):
    model_config = ConfigDict(extra="forbid")

    yaml: str = Field(min_length=1, max_length=256 * 1024)
    filename: str = Field(default="scenario.yaml", max_length=200)


class ScenarioRead(BaseModel):
    key: str
    title_zh: str
    title_en: str
    category: str
    source: str
    sha256: str


class DrillSchedule(RequestBody):
    """A double-blind drill: a window and a pool; the platform draws the time and the scenario."""

    model_config = ConfigDict(extra="forbid")

    window_start: AwareDatetime
    window_end: AwareDatetime
    scenarios: list[str] = Field(max_length=50, description="pool of scenario keys (at least 2)")
    single_scenario: bool = Field(
        default=False,
        description="run a pool of one scenario (the draw of the scenario is then not blind); recorded",
    )
    time_scale: float = Field(default=1.0, ge=1.0, le=3600.0, description="compression for rehearsals")


class DrillStop(RequestBody):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class DrillRead(BaseModel):
    """What a caller may see: participants get the commitment and status only (double-blind)."""

    id: int
    commitment: str
    status: str
    drill: bool = True
    window_start: datetime | None = None
    window_end: datetime | None = None
    pool: list[str] | None = None
    time_scale: float | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    stop_reason: str | None = None
    plan: dict[str, Any] | None = None
    scenario_key: str | None = None
    scenario_title: dict[str, str] | None = None
    score: dict[str, Any] | None = None
    incidents: list[int] | None = None
