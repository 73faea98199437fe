"""Order rules: issue to a user, a team or a department, with one receipt per recipient.

Receipts only move forward (delivered, read, acknowledged; a later step fills the earlier ones), only the
recipient moves its own receipt, and each step is published to the issuer's ``user:{id}`` channel and the
``board``, which shows who has not yet acknowledged.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth import service as auth
from command_center.auth.models import User
from command_center.auth.permissions import Permission, has_permission, require
from command_center.auth.roles import Principal, Role
from command_center.db import utcnow
from command_center.errors import Conflict, Forbidden, NotFound, ValidationFailed
from command_center.events import emit
from command_center.incidents import service as incidents
from command_center.orders.models import Order, OrderReceipt
from command_center.orders.schemas import OrderCreate

Step = Literal["delivered", "read", "acknowledged"]
_STEPS: tuple[Step, ...] = ("delivered", "read", "acknowledged")


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"


def receipt_view(receipt: OrderReceipt) -> dict[str, Any]:
    return {
        "order_id": receipt.order_id,
        "user_id": receipt.user_id,
        "user_name": receipt.user_name,
        "department": receipt.department,
        "delivered_at": receipt.delivered_at,
        "read_at": receipt.read_at,
        "acknowledged_at": receipt.acknowledged_at,
        "note": receipt.note,
    }


async def receipts(session: AsyncSession, order_id: int) -> list[OrderReceipt]:
    query = select(OrderReceipt).where(OrderReceipt.order_id == order_id).order_by(OrderReceipt.id)
    return list((await session.execute(query)).scalars().all())


async def view(session: AsyncSession, order: Order) -> dict[str, Any]:
    rows = await receipts(session, order.id)
    return {
        "id": order.id,
        "text": order.text,
        "to": order.kind,
        "department": order.department,
        "incident_id": order.incident_id,
        "drill": order.drill,
        "cancelled_at": order.cancelled_at,
        "issued_by": order.issued_by,
        "issuer_department": order.issuer_department,
        "created_at": order.created_at,
        "receipts": [receipt_view(r) for r in rows],
        "not_acknowledged": [r.user_name for r in rows if r.acknowledged_at is None],
    }


def _can_receive(user: User) -> bool:
    return user.active and has_permission(
        Principal(id=user.id, name=user.name, role=Role(user.role), department=user.department.code),
        Permission.order_receive,
    )


async def _recipients(session: AsyncSession, principal: Principal, data: OrderCreate) -> list[User]:
    if data.to == "department":
        if data.department is None or data.user_ids:
            raise ValidationFailed(
                "an order to a department names the department and no user_ids", field="department"
            )
        await auth.get_department(session, data.department)
        users = [
            u
            for u in await auth.list_users(session, department=data.department)
            if u.id != principal.id and _can_receive(u)
        ]
        if not users:
            raise ValidationFailed(
                f"department '{data.department}' has nobody who can receive orders", field="department"
            )
        return users
    if data.department is not None:
        raise ValidationFailed(
            f"an order to a {data.to} takes user_ids, not a department", field="department"
        )
    if data.to == "user" and len(data.user_ids) != 1:
        raise ValidationFailed("an order to a user names exactly one user id", field="user_ids")
    if not data.user_ids:
        raise ValidationFailed("an order to a team names at least one user id", field="user_ids")
    wanted = list(dict.fromkeys(data.user_ids))
    found = {
        u.id: u for u in (await session.execute(select(User).where(User.id.in_(wanted)))).scalars().all()
    }
    users = []
    for user_id in wanted:
        user = found.get(user_id)
        if user is None:
            raise NotFound(f"unknown user {user_id}", field="user_ids")
        if not _can_receive(user):
            raise ValidationFailed(f"user '{user.name}' cannot receive orders", field="user_ids")
        users.append(user)
    return users


async def issue(session: AsyncSession, *, principal: Principal, data: OrderCreate) -> Order:
    require(principal, Permission.order_issue)
    incident = None
    if data.incident_id is not None:
        incident = await incidents.get_visible(session, principal, data.incident_id)
    users = await _recipients(session, principal, data)
    now = utcnow()
    order = Order(
        text=data.text,
        kind=data.to,
        department=data.department,
        incident_id=data.incident_id,
        drill=bool(incident and incident.drill),
        issued_by_id=principal.id,
        issued_by=principal.name,
        issuer_department=principal.department,
        created_at=now,
    )
    session.add(order)
    await session.flush()
    for user in users:
        session.add(
            OrderReceipt(
                order_id=order.id, user_id=user.id, user_name=user.name, department=user.department.code
            )
        )
    await session.flush()
    names = [u.name for u in users]
    if incident is not None:
        await incidents.record_event(
            session,
            incident,
            "order.issue",
            actor=principal,
            at=now,
            detail={"order_id": order.id, "to": names},
        )
    await audit.record(
        session, action="order.issue", actor=principal, target=f"order:{order.id}", detail={"to": names}
    )
    emit(
        session,
        ["board", *(user_channel(u.id) for u in users)],
        type="order.issued",
        id=order.id,
        drill=order.drill,
        order=await view(session, order),
    )
    return order


async def get(session: AsyncSession, order_id: int) -> Order:
    order = await session.get(Order, order_id)
    if order is None:
        raise NotFound(f"order {order_id} does not exist", field="order_id")
    return order


async def get_visible(session: AsyncSession, principal: Principal, order_id: int) -> Order:
    """The issuer, the recipients and anyone who issues orders may read an order."""
    order = await get(session, order_id)
    if order.issued_by_id == principal.id or has_permission(principal, Permission.order_issue):
        return order
    if any(r.user_id == principal.id for r in await receipts(session, order_id)):
        return order
    raise Forbidden(f"order {order_id} was not sent to you")


async def mark(
    session: AsyncSession, *, principal: Principal, order_id: int, step: Step, note: str = ""
) -> OrderReceipt:
    """Move the caller's own receipt to ``step``; repeating a step is harmless and changes nothing.

    An acknowledgement is recorded once (it is the step the drill scores, ``order.acknowledge``): a retry
    whose first answer was lost, or a double tap, gets the receipt as it stands, so the officer's page
    shows "acknowledged" instead of an error. The receipt's row is locked until commit, so two at once
    decide one after the other (PostgreSQL; SQLite writers queue anyway).
    """
    require(principal, Permission.order_receive)
    order = await get(session, order_id)
    mine = select(OrderReceipt).where(OrderReceipt.order_id == order_id, OrderReceipt.user_id == principal.id)
    locked = mine.with_for_update().execution_options(populate_existing=True)
    receipt = (await session.execute(locked)).scalar_one_or_none()
    if receipt is None:
        raise Forbidden(f"order {order_id} was not sent to you")
    if order.cancelled_at is not None:
        raise Conflict(f"order {order_id} was cancelled", field="order_id")
    if receipt.acknowledged_at is not None:
        return receipt
    if getattr(receipt, f"{step}_at") is not None:
        return receipt
    now = utcnow()
    for earlier in _STEPS[: _STEPS.index(step) + 1]:
        if getattr(receipt, f"{earlier}_at") is None:
            setattr(receipt, f"{earlier}_at", now)
    if step == "acknowledged":
        receipt.note = note
        if order.incident_id is not None:
            incident = await incidents.get(session, order.incident_id)
            await incidents.record_event(
                session,
                incident,
                "order.acknowledge",
                actor=principal,
                at=now,
                detail={"order_id": order.id, "note": note},
            )
        await audit.record(session, action="order.acknowledge", actor=principal, target=f"order:{order.id}")
    emit(
        session,
        ["board", user_channel(order.issued_by_id)],
        type=f"order.{step}",
        id=order.id,
        drill=order.drill,
        receipt=receipt_view(receipt),
    )
    return receipt


async def list_mine(session: AsyncSession, *, principal: Principal, limit: int = 100) -> list[Order]:
    """Orders the caller issued or received, newest first."""
    received = select(OrderReceipt.order_id).where(OrderReceipt.user_id == principal.id)
    query = (
        select(Order)
        .where(or_(Order.issued_by_id == principal.id, Order.id.in_(received)))
        .order_by(Order.id.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars().all())


async def pending(
    session: AsyncSession, *, principal: Principal, incident_id: int | None = None
) -> list[dict[str, Any]]:
    """Receipts not yet acknowledged: every one for those who issue orders, otherwise the caller's own."""
    query = (
        select(OrderReceipt, Order)
        .join(Order, Order.id == OrderReceipt.order_id)
        .where(OrderReceipt.acknowledged_at.is_(None), Order.cancelled_at.is_(None))
        .order_by(Order.created_at, OrderReceipt.id)
    )
    if not has_permission(principal, Permission.order_issue):
        query = query.where(OrderReceipt.user_id == principal.id)
    if incident_id is not None:
        query = query.where(Order.incident_id == incident_id)
    return [
        {
            **receipt_view(receipt),
            "text": order.text,
            "issued_by": order.issued_by,
            "issued_at": order.created_at,
            "incident_id": order.incident_id,
            "drill": order.drill,
        }
        for receipt, order in (await session.execute(query)).all()
    ]


async def cancel(session: AsyncSession, *, principal: Principal, order_id: int, reason: str) -> Order:
    """Withdraw an order nobody needs to act on any more (its drill ended); its recipients are told."""
    order = await get(session, order_id)
    if order.cancelled_at is not None:
        return order
    order.cancelled_at = utcnow()
    recipients = await receipts(session, order_id)
    await audit.record(
        session, action="order.cancel", actor=principal, target=f"order:{order.id}", detail={"reason": reason}
    )
    emit(
        session,
        ["board", *(user_channel(r.user_id) for r in recipients)],
        type="order.cancelled",
        id=order.id,
        drill=order.drill,
        reason=reason,
        order=await view(session, order),
    )
    return order
