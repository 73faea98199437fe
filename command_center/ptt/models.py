"""The floor of each push-to-talk talkgroup: one row per talkgroup, shared by every server process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from command_center.db import Base, UTCDateTime


class PttFloor(Base):
    """Who holds a talkgroup's floor. ``version`` rises on every change: a claim is a compare-and-swap on it,
    so two processes granting the same floor at once cannot both win."""

    __tablename__ = "ptt_floors"

    talkgroup: Mapped[str] = mapped_column(
        String(64), primary_key=True
    )  # incident:{id} | taskforce:{id} | stream:{id}
    #: Where its grants and releases are announced (the talkgroup's channel, or the officer's for talk-back).
    channel: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[int] = mapped_column(Integer, default=0)
    holder_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    holder_name: Mapped[str] = mapped_column(String(200), default="")
    holder_role: Mapped[str] = mapped_column(String(32), default="")
    granted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Talk spurts granted so far on this talkgroup (names the spurt's recording and audit entries).
    spurts: Mapped[int] = mapped_column(Integer, default=0)
    #: The live audio-only stream carrying the current spurt (its recording is the spurt's evidence).
    stream_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
