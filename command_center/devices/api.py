"""Devices API: register a GB/T 28181 device (admin), list devices with live state, watch one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status

from command_center.auth.deps import CurrentUser, SessionDep
from command_center.devices import service
from command_center.devices.schemas import DeviceCreate, DeviceRead, DeviceView
from command_center.streams.schemas import Answer

router = APIRouter(prefix="/api/devices", tags=["devices"])
DeviceId = Annotated[str, Path(pattern=r"^\d{20}$", description="the 20-digit GB/T 28181 device id")]


@router.post("", response_model=DeviceRead, status_code=status.HTTP_201_CREATED)
async def create_device(
    body: DeviceCreate, request: Request, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    realm = request.app.state.settings.sip_domain
    return await service.create(session, principal, body, realm=realm)


@router.get("", response_model=list[DeviceRead])
async def list_devices(request: Request, principal: CurrentUser, session: SessionDep) -> list[dict[str, Any]]:
    """Devices with online state, last keepalive, position, channels and the last failed play's diagnosis."""
    return await service.list_devices(session, principal, getattr(request.app.state, "gateway", None))


@router.get("/{device_id}", response_model=DeviceRead)
async def get_device(
    device_id: DeviceId, request: Request, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    row, officer = await service.get_visible(session, principal, device_id)
    gateway = getattr(request.app.state, "gateway", None)
    return service.view(row, officer, gateway.snapshot(device_id) if gateway else None)


@router.post("/{device_id}/view", response_model=Answer)
async def view_device(
    device_id: DeviceId, body: DeviceView, request: Request, principal: CurrentUser, session: SessionDep
) -> Answer:
    """Start (or join) the device's live video and answer the viewer's offer; ``id`` is the stream id."""
    stream_id, sdp = await service.watch(
        session,
        request.app.state.relay,
        getattr(request.app.state, "gateway", None),
        principal=principal,
        device_id=device_id,
        offer_sdp=body.sdp,
        channel_id=body.channel_id,
    )
    return Answer(id=stream_id, sdp=sdp)
