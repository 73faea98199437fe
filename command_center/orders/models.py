"""Orders and one receipt per recipient."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from command_center.db import Base, UTCDateTime, utcnow


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))  # "user" | "team" | "department"
    department: Mapped[str | None] = mapped_column(String(64), nullable=True)
    incident_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    drill: Mapped[bool] = mapped_column(Boolean, default=False)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    issued_by: Mapped[str] = mapped_column(String(64))
    issuer_department: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A drill's orders are cancelled when it ends: no longer pending, no longer acknowledgeable.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OrderReceipt(Base):
    """Where one recipient's copy of an order is: delivered to a device, read, acknowledged."""

    __tablename__ = "order_receipts"
    __table_args__ = (UniqueConstraint("order_id", "user_id", name="uq_order_receipts_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    user_name: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(64))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
