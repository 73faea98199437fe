"""The stream registry: one row per stream, so every process and every page sees the same list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from command_center.db import Base, JSONType, UTCDateTime, utcnow


class StreamRecord(Base):
    __tablename__ = "streams"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the relay's stream id
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    officer_name: Mapped[str] = mapped_column(String(200), default="")
    department: Mapped[str] = mapped_column(String(64), default="section")
    incident_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(300), default="")  # "" or the upstream centre (cascade)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    connected: Mapped[bool] = mapped_column(Boolean, default=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    position_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    health: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    codecs: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    segments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)  # the recording manifest
    # The process whose relay holds the stream, and where others send its WHIP/WHEP requests (307).
    owner: Mapped[str] = mapped_column(String(64), default="")
    owner_url: Mapped[str] = mapped_column(String(300), default="")
    # Stopped on purpose (DELETE): a reconnecting publisher or a restarted process never revives it.
    stopped: Mapped[bool] = mapped_column(Boolean, default=False)
    # A cascade's bearer token at its source, encrypted with a key derived from CC_SECRET_KEY, so a
    # restarted process resumes the cascade; cleared when the stream is stopped.
    cascade_secret: Mapped[str | None] = mapped_column(String(1000), nullable=True)
