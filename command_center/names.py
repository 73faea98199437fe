"""Who and what the codes in a log stand for, for documents: display names, department names, order texts."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.auth.models import Department, User
from command_center.incidents.export import Names
from command_center.orders.models import Order


async def export_names(session: AsyncSession, order_ids: Iterable[int] = ()) -> Names:
    users = (await session.execute(select(User.name, User.display_name))).all()
    departments = (
        await session.execute(select(Department.code, Department.name_zh, Department.name_en))
    ).all()
    wanted = sorted({int(i) for i in order_ids})
    orders = (
        (await session.execute(select(Order.id, Order.text).where(Order.id.in_(wanted)))).all()
        if wanted
        else []
    )
    return Names(
        people={name: display or name for name, display in users},
        departments={code: (zh, en) for code, zh, en in departments},
        orders={order_id: text for order_id, text in orders},
    )
