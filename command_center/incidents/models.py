"""Incidents and their event log (the timeline every action is written to, with who and when)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from command_center.db import Base, JSONType, UTCDateTime, utcnow


class IncidentDepartment(Base):
    """One department taking part in an incident.

    Scope lives in SQL: who may see an incident is a join on this table, so a list filters, orders and
    limits in the database (a JSON list could only be filtered after the LIMIT, and came back short).
    """

    __tablename__ = "incident_departments"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    department: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)  # the order departments joined in


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_drill_stage", "drill", "stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(32))
    location_lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    location_lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    headcount: Mapped[int | None] = mapped_column(Integer, nullable=True)
    demands: Mapped[str] = mapped_column(Text, default="")
    dynamics: Mapped[str] = mapped_column(Text, default="")
    first_department: Mapped[str] = mapped_column(String(64))  # 首接负责: the first-receiving department
    # Every department taking part, first-receiving first; read and set as ``departments``.
    department_links: Mapped[list[IncidentDepartment]] = relationship(
        order_by=IncidentDepartment.position,
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
    )
    online_track: Mapped[bool] = mapped_column(Boolean, default=False)  # 双轨: cyberspace's online track
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    drill_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    ledger_item_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    zones: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    team: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)

    @property
    def departments(self) -> list[str]:
        """Every department taking part, in the order they joined."""
        return [link.department for link in self.department_links]

    @departments.setter
    def departments(self, codes: Iterable[str]) -> None:
        self.department_links = relinked(self.department_links, codes, IncidentDepartment)


def relinked(links: list[Any], codes: Iterable[str], link_type: Any) -> list[Any]:
    """The links for ``codes`` in order, keeping existing link rows (none is deleted and re-added)."""
    existing = {link.department: link for link in links}
    result = []
    for position, code in enumerate(dict.fromkeys(codes)):
        link = existing.get(code) or link_type(department=code)
        link.position = position
        result.append(link)
    return result


class IncidentEvent(Base):
    """One action on an incident: the timeline, the source of drill scoring, never edited."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    action: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(64), default="system")
    actor_role: Mapped[str] = mapped_column(String(32), default="")
    actor_department: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
