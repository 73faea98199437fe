"""Request and response bodies of the ledger API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from command_center.incidents.rules import Category
from command_center.ledger.rules import Colour, Domain, RiskGrade, Source, Status, Subdomain
from command_center.limits import RequestBody


class LedgerItemCreate(RequestBody):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    domain: Domain
    subdomain: Subdomain | None = None
    source: Source
    responsible_department: str = Field(min_length=1, max_length=64)
    leader_in_charge: str = Field(min_length=1, max_length=100, description="包案领导")
    due_at: AwareDatetime = Field(description="by when the problem must be solved; not in the past")
    risk_grade: RiskGrade = RiskGrade.general
    colour: Colour = Colour.none


class WarningChange(RequestBody):
    """Set the warning colour; raising restarts the clock, lowering needs a reason."""

    model_config = ConfigDict(extra="forbid")

    colour: Colour
    reason: str = Field(default="", max_length=1000)


class Resolution(RequestBody):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=4000)


class Escalation(RequestBody):
    """Turn the item into an incident; the incident keeps ``ledger_item_id``."""

    model_config = ConfigDict(extra="forbid")

    category: Category
    title: str | None = Field(default=None, min_length=1, max_length=200)
    address: str = Field(default="", max_length=300)
    headcount: int | None = Field(default=None, ge=0, le=100_000)
    demands: str = Field(default="", max_length=4000)
    departments: list[str] = Field(default_factory=list, max_length=20)


class HistoryRead(BaseModel):
    id: int
    at: datetime
    action: str
    actor_name: str
    actor_department: str
    detail: dict[str, Any]


class LedgerItemRead(BaseModel):
    id: int
    title: str
    description: str
    domain: Domain
    subdomain: Subdomain | None
    source: Source
    responsible_department: str
    leader_in_charge: str
    due_at: datetime
    risk_grade: RiskGrade
    colour: Colour
    warning_since: datetime | None
    warning_due_at: datetime | None
    overdue: bool
    overdue_at: datetime | None
    status: Status
    resolution: str
    incident_id: int | None
    created_at: datetime
    updated_at: datetime


class LedgerStats(BaseModel):
    since: datetime | None
    until: datetime | None
    total: int
    overdue: int
    by_colour: dict[str, int]
    by_domain: dict[str, int]
    by_source: dict[str, int]
    by_risk_grade: dict[str, int]
    by_status: dict[str, int]
    by_responsible_department: dict[str, int]
