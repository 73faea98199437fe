"""A drill's review, its per-check results, and the rectification list (整改清单) closed item by item."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from command_center.db import Base, JSONType, UTCDateTime, utcnow


class Review(Base):
    """One per drill: the automatic result at the end of the drill and the review meeting (due in 3 days)."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    drill_id: Mapped[int] = mapped_column(ForeignKey("drills.id", ondelete="CASCADE"), unique=True)
    scenario_key: Mapped[str] = mapped_column(String(100), index=True)
    scenario_title_zh: Mapped[str] = mapped_column(String(200))
    scenario_title_en: Mapped[str] = mapped_column(String(200))
    rubric_version: Mapped[int] = mapped_column(Integer)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The automatic result (DESIGN.md section 7); evaluators' overrides sit beside it on each check.
    overall: Mapped[float | None] = mapped_column(Float, nullable=True)
    rating: Mapped[str | None] = mapped_column(String(1), nullable=True)
    capped: Mapped[bool] = mapped_column(Boolean, default=False)
    meeting_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    meeting_overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    meeting_held_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    meeting_minutes: Mapped[str] = mapped_column(Text, default="")
    meeting_recorded_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReviewCheck(Base):
    """One check's automatic result (raw minutes, score, rating) and an evaluator's override, if any."""

    __tablename__ = "review_checks"
    __table_args__ = (UniqueConstraint("review_id", "check_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    check_id: Mapped[str] = mapped_column(String(80))
    title_zh: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    stage: Mapped[str] = mapped_column(String(32))
    department: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16))  # not_started | open | done | missed
    elapsed: Mapped[float | None] = mapped_column(Float, nullable=True)  # scenario minutes
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    rating: Mapped[str | None] = mapped_column(String(1), nullable=True)
    fields_missing: Mapped[list[str]] = mapped_column(JSONType, default=list)
    weight: Mapped[float] = mapped_column(Float)
    critical: Mapped[bool] = mapped_column(Boolean, default=False)
    override_rating: Mapped[str | None] = mapped_column(String(1), nullable=True)
    override_justification: Mapped[str] = mapped_column(Text, default="")
    override_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    override_by_name: Mapped[str] = mapped_column(String(64), default="")
    override_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RectificationItem(Base):
    """One weakness to fix: owned by a department and a leader, with a deadline, closed with evidence."""

    __tablename__ = "rectification_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # check | finding
    check_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    title: Mapped[str] = mapped_column(Text)
    department: Mapped[str] = mapped_column(String(64))
    leader: Mapped[str] = mapped_column(String(64), default="")
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | in_progress | closed | verified
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    verified_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class RectificationEvidence(Base):
    """Proof that an item was dealt with: a description and a reference (URL or document number)."""

    __tablename__ = "rectification_evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("rectification_items.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # An uploaded file (stored by its SHA-256 under CC_EVIDENCE_DIR); None for a reference only.
    file_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    file_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    content_type: Mapped[str | None] = mapped_column(String(100), nullable=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    added_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    added_by_name: Mapped[str] = mapped_column(String(64), default="")


class RectificationHistory(Base):
    """Every status change of an item, with who, when and the note: the 逐项销号 trail."""

    __tablename__ = "rectification_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("rectification_items.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(64), default="system")
