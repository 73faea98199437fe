"""One row per deadline: the stored due time is the clock; warnings and misses are claimed on the row."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from command_center.db import Base, JSONType, UTCDateTime, utcnow


class Deadline(Base):
    __tablename__ = "deadlines"
    __table_args__ = (
        Index("ix_deadlines_open_warn", "done_at", "warned_at", "warn_at"),
        Index("ix_deadlines_subject", "subject", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(64))  # "incident:12", "task:3", "ledger:5", ...
    kind: Mapped[str] = mapped_column(String(32))  # "phone_report", "written_report", "task", ...
    label: Mapped[str] = mapped_column(String(200), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    warn_at: Mapped[datetime] = mapped_column(UTCDateTime)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    missed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set with ``done_at`` when the deadline stopped applying (its incident closed, its drill ended): a
    # cancelled deadline is shown as cancelled, never as met.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    # Where warnings go (hub channels) and who is responsible (department, user ids): data, not code.
    channels: Mapped[list[str]] = mapped_column(JSONType, default=list)
    responsible: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
