"""Request and response bodies of the streams API (DESIGN.md section 9)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from command_center.limits import Id, RequestBody


class Offer(RequestBody):
    model_config = ConfigDict(extra="forbid")

    sdp: str = Field(min_length=1, max_length=64 * 1024)
    type: Literal["offer"]


class PublishOffer(Offer):
    incident_id: Id | None = None
    stream_id: str | None = Field(default=None, max_length=64, description="reconnect to this live stream")


class Answer(BaseModel):
    id: str
    sdp: str
    type: Literal["answer"] = "answer"


class PositionUpdate(RequestBody):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy: float | None = Field(default=None, ge=0, le=100_000)


class CascadeRequest(RequestBody):
    """Pull a stream from another centre (this server becomes its viewer, then relays it here)."""

    model_config = ConfigDict(extra="forbid")

    source: AnyHttpUrl = Field(
        description="base URL of the other centre; must be in CC_MEDIA_ALLOWED_TARGETS"
    )
    stream_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    token: str = Field(min_length=1, max_length=200, description="a bearer token valid at the source")


class PullRequest(RequestBody):
    """Pull an RTSP or RTMP source from an existing camera platform (it must be on the allow-list)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=8, max_length=500, pattern=r"^(rtsp|rtmp)://", description="rtsp:// or rtmp://"
    )
    officer: str | None = Field(default=None, max_length=200, description="what the wall shows as its name")
    incident_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


class StreamRead(BaseModel):
    id: str
    officer: str
    officer_id: int | None
    department: str
    incident_id: int | None
    drill: bool
    source: str
    started_at: datetime
    ended_at: datetime | None
    connected: bool
    position: dict[str, Any] | None
    health: dict[str, Any] | None
    codecs: dict[str, str]
    segments: int
