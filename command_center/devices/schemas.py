"""Request and response bodies of the devices API (DESIGN.md section 10)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(pattern=r"^\d{20}$", description="the 20-digit GB/T 28181 device id")
    password: str = Field(min_length=8, max_length=64, description="the device's SIP password (Digest)")
    officer: str = Field(min_length=1, max_length=64, description="user name of the officer wearing it")
    name: str = Field(default="", max_length=200)


class DeviceView(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sdp: str = Field(min_length=1, max_length=64 * 1024)
    type: Literal["offer"]
    channel_id: str | None = Field(default=None, pattern=r"^\d{20}$")


class DeviceRead(BaseModel):
    device_id: str
    name: str
    officer: str | None
    officer_id: int
    department: str | None
    gateway: bool
    online: bool
    offline_reason: str | None
    transport: str | None
    address: str | None
    last_keepalive: str | None
    last_seen_at: datetime | None
    manufacturer: str | None
    model: str | None
    channels: list[dict[str, Any]]
    position: dict[str, Any] | None
    plays: list[dict[str, Any]]
    diagnosis: dict[str, Any] | None
    created_at: datetime
