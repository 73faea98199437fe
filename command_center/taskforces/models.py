"""Task forces, their members, linked incidents, messages, tasks, and cross-department matters."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from command_center.db import Base, JSONType, UTCDateTime, utcnow
from command_center.incidents.models import relinked


class TaskForce(Base):
    """A "1 + N" joint task force (协同处置专班): the section leads, N departments take part."""

    __tablename__ = "taskforces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text, default="")
    lead_department: Mapped[str] = mapped_column(String(64))
    drill: Mapped[bool] = mapped_column(Boolean, default=False)  # made by a drill: marked 演练 everywhere
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TaskForceMember(Base):
    __tablename__ = "taskforce_members"
    __table_args__ = (UniqueConstraint("taskforce_id", "department", name="uq_taskforce_members_department"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    taskforce_id: Mapped[int] = mapped_column(ForeignKey("taskforces.id", ondelete="CASCADE"), index=True)
    department: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16), default="member")  # "lead" | "member"
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    added_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class TaskForceIncident(Base):
    __tablename__ = "taskforce_incidents"
    __table_args__ = (
        UniqueConstraint("taskforce_id", "incident_id", name="uq_taskforce_incidents_incident"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    taskforce_id: Mapped[int] = mapped_column(ForeignKey("taskforces.id", ondelete="CASCADE"), index=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    linked_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class TaskForceMessage(Base):
    """A message in the task force's channel (daily information exchange), kept as the source of truth."""

    __tablename__ = "taskforce_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    taskforce_id: Mapped[int] = mapped_column(ForeignKey("taskforces.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    author_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    author_name: Mapped[str] = mapped_column(String(64))
    author_department: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    drill: Mapped[bool] = mapped_column(Boolean, default=False)  # posted in a drill task force


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    taskforce_id: Mapped[int] = mapped_column(ForeignKey("taskforces.id", ondelete="CASCADE"), index=True)
    incident_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    owner_department: Mapped[str] = mapped_column(String(64), index=True)
    # open | acknowledged | done | cancelled (its drill ended before it was done)
    status: Mapped[str] = mapped_column(String(16), default="open")
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    completion_note: Mapped[str] = mapped_column(Text, default="")

    #: Statuses of a task still to be done (a drill's end cancels these; a department owning one stays).
    UNFINISHED = ("open", "acknowledged")
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MatterDepartment(Base):
    """One department involved in a matter (received it, was asked to take it over, or did): its scope."""

    __tablename__ = "matter_departments"

    matter_id: Mapped[int] = mapped_column(ForeignKey("matters.id", ondelete="CASCADE"), primary_key=True)
    department: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Matter(Base):
    """A cross-department matter: the first-receiving department (首接负责) owns it until a handover."""

    __tablename__ = "matters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    first_department: Mapped[str] = mapped_column(String(64))
    owner_department: Mapped[str] = mapped_column(String(64), index=True)
    pending_department: Mapped[str | None] = mapped_column(String(64), nullable=True)
    pending_reason: Mapped[str] = mapped_column(Text, default="")
    # Everyone ever involved, in order; read and set as ``departments``.
    department_links: Mapped[list[MatterDepartment]] = relationship(
        order_by=MatterDepartment.position,
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
    )
    taskforce_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    incident_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    drill: Mapped[bool] = mapped_column(Boolean, default=False)  # about a drill task force or incident
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    @property
    def departments(self) -> list[str]:
        return [link.department for link in self.department_links]

    @departments.setter
    def departments(self, codes: Iterable[str]) -> None:
        self.department_links = relinked(self.department_links, codes, MatterDepartment)


class MatterHistory(Base):
    """Receipt, handover requests, acceptances and refusals, never edited."""

    __tablename__ = "matter_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    matter_id: Mapped[int] = mapped_column(ForeignKey("matters.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(64))
    actor_department: Mapped[str] = mapped_column(String(64))
    from_department: Mapped[str | None] = mapped_column(String(64), nullable=True)
    to_department: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
