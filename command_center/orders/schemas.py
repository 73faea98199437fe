"""Request and response bodies of the orders API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from command_center.limits import Id, RequestBody


class OrderCreate(RequestBody):
    """To one user (``user_ids: [id]``), a team (``user_ids``) or every user of a ``department``."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2000)
    to: Literal["user", "team", "department"]
    user_ids: list[Id] = Field(default_factory=list, max_length=200)
    department: str | None = Field(default=None, min_length=1, max_length=64)
    incident_id: Id | None = None


class Acknowledgement(RequestBody):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=1000)


class ReceiptRead(BaseModel):
    order_id: int
    user_id: int
    user_name: str
    department: str
    delivered_at: datetime | None
    read_at: datetime | None
    acknowledged_at: datetime | None
    note: str


class OrderRead(BaseModel):
    id: int
    text: str
    to: Literal["user", "team", "department"]
    department: str | None
    incident_id: int | None
    drill: bool
    cancelled_at: datetime | None = None
    issued_by: str
    issuer_department: str
    created_at: datetime
    receipts: list[ReceiptRead]
    not_acknowledged: list[str]


class PendingRead(ReceiptRead):
    """One recipient who has not yet acknowledged (what the board shows)."""

    text: str
    issued_by: str
    issued_at: datetime
    incident_id: int | None
    drill: bool
