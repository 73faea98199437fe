"""Devices an admin registered: the Digest secret, the officer wearing it, and what it last told us.

Live state (online, last keepalive, address) is the gateway's, in memory; these rows keep what must
survive a restart and what every process can show: binding, catalog, last position, last failed play.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from command_center.db import Base, JSONType, UTCDateTime, utcnow


class Device(Base):
    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # MD5(device_id:realm:password), what Digest needs; the password itself is never stored.
    ha1: Mapped[str] = mapped_column(String(32))
    realm: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    manufacturer: Mapped[str] = mapped_column(String(200), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    channels: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    position_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_diagnosis: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
