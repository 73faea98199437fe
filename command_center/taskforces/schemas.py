"""Request and response bodies of the task force, task and matter APIs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from command_center.limits import Id, RequestBody

Department = Field(min_length=1, max_length=64)


class TaskForceCreate(RequestBody):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    purpose: str = Field(default="", max_length=4000)
    lead_department: str | None = Field(default=None, max_length=64, description="always the section")
    members: list[str] = Field(default_factory=list, max_length=30, description="the N departments")


class MembersChange(RequestBody):
    model_config = ConfigDict(extra="forbid")

    departments: list[str] = Field(min_length=1, max_length=30)


class IncidentLink(RequestBody):
    model_config = ConfigDict(extra="forbid")

    incident_id: Id


class MessageCreate(RequestBody):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)


class TaskCreate(RequestBody):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    owner_department: str = Department
    due_at: AwareDatetime
    incident_id: Id | None = Field(default=None, description="one of the task force's linked incidents")


class TaskCompletion(RequestBody):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=4000)


class MatterCreate(RequestBody):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    received_by: str | None = Field(
        default=None, max_length=64, description="the first-receiving department; default the caller's"
    )
    taskforce_id: Id | None = None
    incident_id: Id | None = None


class HandoverRequest(RequestBody):
    model_config = ConfigDict(extra="forbid")

    to_department: str = Department
    reason: str = Field(min_length=1, max_length=1000)


class HandoverAnswer(RequestBody):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=1000, description="required when refusing")


class MemberRead(BaseModel):
    department: str
    role: Literal["lead", "member"]
    added_at: datetime


class TaskForceRead(BaseModel):
    id: int
    name: str
    purpose: str
    lead_department: str
    drill: bool
    members: list[MemberRead]
    incident_ids: list[int]
    created_at: datetime
    closed_at: datetime | None


class MessageRead(BaseModel):
    id: int
    taskforce_id: int
    at: datetime
    author_name: str
    author_department: str
    text: str
    drill: bool = False


class TaskRead(BaseModel):
    id: int
    taskforce_id: int
    incident_id: int | None
    title: str
    description: str
    owner_department: str
    status: Literal["open", "acknowledged", "done", "cancelled"]
    drill: bool = False
    due_at: datetime
    overdue: bool
    overdue_at: datetime | None
    created_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    completed_at: datetime | None
    completed_by: str | None
    completion_note: str


class MatterHistoryRead(BaseModel):
    id: int
    at: datetime
    action: str
    actor_name: str
    actor_department: str
    from_department: str | None
    to_department: str | None
    reason: str


class MatterRead(BaseModel):
    id: int
    title: str
    description: str
    first_department: str
    owner_department: str
    pending_department: str | None
    pending_reason: str
    taskforce_id: int | None
    incident_id: int | None
    drill: bool = False
    created_at: datetime
    history: list[MatterHistoryRead] = Field(default_factory=list)
