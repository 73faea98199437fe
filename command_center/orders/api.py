"""Orders API: a thin router; every rule lives in :mod:`command_center.orders.service`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from command_center.auth.deps import CurrentUser, SessionDep
from command_center.limits import IdPath, IdQuery
from command_center.orders import service
from command_center.orders.schemas import Acknowledgement, OrderCreate, OrderRead, PendingRead, ReceiptRead

router = APIRouter(prefix="/api/orders", tags=["orders"])


@router.post("", response_model=OrderRead, status_code=status.HTTP_201_CREATED)
async def issue_order(body: OrderCreate, principal: CurrentUser, session: SessionDep) -> Any:
    return await service.view(session, await service.issue(session, principal=principal, data=body))


@router.get("", response_model=list[OrderRead])
async def list_orders(
    principal: CurrentUser, session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[Any]:
    return [
        await service.view(session, o)
        for o in await service.list_mine(session, principal=principal, limit=limit)
    ]


@router.get("/pending", response_model=list[PendingRead])
async def pending_receipts(principal: CurrentUser, session: SessionDep, incident_id: IdQuery = None) -> Any:
    return await service.pending(session, principal=principal, incident_id=incident_id)


@router.get("/{order_id}", response_model=OrderRead)
async def get_order(order_id: IdPath, principal: CurrentUser, session: SessionDep) -> Any:
    return await service.view(session, await service.get_visible(session, principal, order_id))


@router.post("/{order_id}/delivered", response_model=ReceiptRead)
async def confirm_delivery(order_id: IdPath, principal: CurrentUser, session: SessionDep) -> Any:
    receipt = await service.mark(session, principal=principal, order_id=order_id, step="delivered")
    return service.receipt_view(receipt)


@router.post("/{order_id}/read", response_model=ReceiptRead)
async def confirm_read(order_id: IdPath, principal: CurrentUser, session: SessionDep) -> Any:
    return service.receipt_view(
        await service.mark(session, principal=principal, order_id=order_id, step="read")
    )


@router.post("/{order_id}/acknowledge", response_model=ReceiptRead)
async def acknowledge(
    order_id: IdPath, principal: CurrentUser, session: SessionDep, body: Acknowledgement | None = None
) -> Any:
    receipt = await service.mark(
        session, principal=principal, order_id=order_id, step="acknowledged", note=body.note if body else ""
    )
    return service.receipt_view(receipt)
