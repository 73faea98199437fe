"""Drills, the scenarios they may draw from, and the injects they released (the drill's own event log)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from command_center.db import Base, JSONType, UTCDateTime, utcnow


class DrillScenario(Base):
    """A scenario file a drill may draw: shipped with the platform or uploaded by an organizer."""

    __tablename__ = "drill_scenarios"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)  # the scenario file's own ``id``
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # shipped | uploaded
    yaml_text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Drill(Base):
    """One double-blind drill: ``sealed_plan`` is hidden until ``started_at``; ``commitment`` never is."""

    __tablename__ = "drills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # scheduled | running | finished | stopped
    commitment: Mapped[str] = mapped_column(String(64))
    sealed_plan: Mapped[str] = mapped_column(Text)  # canonical JSON; its SHA-256 is ``commitment``
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    pool: Mapped[list[str]] = mapped_column(JSONType, default=list)
    time_scale: Mapped[float] = mapped_column(Float, default=1.0)
    organizer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Drawn and sealed at scheduling; copied out of the plan only when the drill starts (the reveal).
    start_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    scenario_key: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    rubric_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    stop_reason: Mapped[str] = mapped_column(String(500), default="")
    score: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # Which process runs it, until when: a process that dies lets another resume the drill.
    runner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DrillInject(Base):
    """An inject the engine released, when, and the platform object it became (``incident:12``)."""

    __tablename__ = "drill_injects"
    __table_args__ = (UniqueConstraint("drill_id", "inject_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    drill_id: Mapped[int] = mapped_column(ForeignKey("drills.id", ondelete="CASCADE"), index=True)
    inject_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    created: Mapped[list[str]] = mapped_column(JSONType, default=list)  # ["incident:12", "order:4", ...]
