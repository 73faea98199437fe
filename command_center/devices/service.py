"""Devices: register (admin), list with live state and the last failed play's diagnosis, watch (play + view).

Who may see a device is who may see its officer's streams: the command room, and the officer's own
department. Watching a device starts (or joins) a GB/T 28181 play and then goes through the ordinary
streams path, so the view is audited, recorded and cascaded like any other stream.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth.models import User
from command_center.auth.permissions import Permission, department_scope, require
from command_center.auth.roles import Principal
from command_center.db import utcnow
from command_center.devices.models import Device
from command_center.devices.schemas import DeviceCreate
from command_center.errors import BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable
from command_center.events import emit
from command_center.streams import service as streams
from command_center.streams.models import StreamRecord
from streaming import Relay
from streaming.gb28181 import DeviceOffline, Gateway, PlayFailed, ha1


async def create(
    session: AsyncSession, principal: Principal, data: DeviceCreate, *, realm: str
) -> dict[str, Any]:
    require(principal, Permission.user_manage)
    officer = (await session.execute(select(User).where(User.name == data.officer))).scalar_one_or_none()
    if officer is None:
        raise BadRequest(f"no user named {data.officer!r} to bind the device to", field="officer")
    if await session.get(Device, data.device_id) is not None:
        raise Conflict(f"device {data.device_id} is already registered", field="device_id")
    row = Device(
        device_id=data.device_id,
        officer_id=officer.id,
        name=data.name,
        ha1=ha1(data.device_id, realm, data.password),
        realm=realm,
        created_by=principal.id,
        channels=[],
    )
    session.add(row)
    await audit.record(
        session,
        action="device.create",
        actor=principal,
        target=f"device:{row.device_id}",
        detail={"officer": officer.name, "name": data.name},
    )
    await session.flush()
    return view(row, officer, None)


def view(row: Device, officer: User | None, live: dict[str, Any] | None) -> dict[str, Any]:
    """A device as the API shows it; ``live`` is the gateway's snapshot (None when the gateway is off)."""
    live = live or {}
    position = live.get("position")
    if position is None and row.lat is not None:
        position = {"lat": row.lat, "lon": row.lon, "at": row.position_at}
    return {
        "device_id": row.device_id,
        "name": row.name or live.get("name") or "",
        "officer": officer.name if officer else None,
        "officer_id": row.officer_id,
        "department": officer.department.code if officer else None,
        "gateway": bool(live),
        "online": bool(live.get("online")),
        "offline_reason": live.get("offline_reason"),
        "transport": live.get("transport"),
        "address": live.get("address"),
        "last_keepalive": live.get("last_keepalive"),
        "last_seen_at": row.last_seen_at,
        "manufacturer": live.get("manufacturer") or row.manufacturer or None,
        "model": live.get("model") or row.model or None,
        "channels": live.get("channels") or row.channels or [],
        "position": position,
        "plays": live.get("plays", []),
        "diagnosis": row.last_diagnosis,
        "created_at": row.created_at,
    }


def _visible(principal: Principal, officer: User | None) -> bool:
    scope = department_scope(principal)
    return scope is None or (officer is not None and officer.department.code in scope)


async def list_devices(
    session: AsyncSession, principal: Principal, gateway: Gateway | None
) -> list[dict[str, Any]]:
    require(principal, Permission.stream_view)
    rows = (await session.execute(select(Device, User).join(User, User.id == Device.officer_id))).all()
    out = []
    for row, officer in sorted(rows, key=lambda pair: pair[0].device_id):
        if _visible(principal, officer):
            out.append(view(row, officer, gateway.snapshot(row.device_id) if gateway else None))
    return out


async def get_visible(session: AsyncSession, principal: Principal, device_id: str) -> tuple[Device, User]:
    require(principal, Permission.stream_view)
    row = await session.get(Device, device_id)
    if row is None:
        raise NotFound(f"device {device_id} is not registered", field="device_id")
    officer = await session.get(User, row.officer_id)
    if officer is None or not _visible(principal, officer):
        raise Forbidden(f"department '{principal.department}' cannot see device {device_id}")
    return row, officer


async def watch(
    session: AsyncSession,
    relay: Relay,
    gateway: Gateway | None,
    *,
    principal: Principal,
    device_id: str,
    offer_sdp: str,
    channel_id: str | None,
) -> tuple[str, str]:
    """Start or join the device's live play, then answer the viewer like any stream; ``(stream_id, sdp)``."""
    row, officer = await get_visible(session, principal, device_id)
    if gateway is None:
        raise ServiceUnavailable("the GB/T 28181 gateway is not running: set CC_SIP_PORT")
    await session.commit()  # an INVITE takes a while: hold no database lock meanwhile
    try:
        stream_id = await gateway.play(device_id, channel_id)
    except DeviceOffline as exc:
        raise Conflict(f"device {device_id} is offline; it must register first", field="device_id") from exc
    except PlayFailed as exc:
        raise ServiceUnavailable(
            f"device {device_id} did not deliver video: {exc.diagnosis.summary}"
        ) from exc
    if await session.get(StreamRecord, stream_id) is None:
        playing = [
            p["channel_id"] for p in gateway.snapshot(device_id)["plays"] if p["stream_id"] == stream_id
        ]
        session.add(_stream_row(stream_id, row, officer, playing[0] if playing else channel_id))
        await session.flush()
        stream = await session.get(StreamRecord, stream_id)
        assert stream is not None
        emit(
            session,
            streams.channels(stream),
            departments=[officer.department.code],
            type="stream.started",
            id=stream_id,
            stream=streams.view(stream),
        )
    answer = await streams.watch(
        session, relay, principal=principal, stream_id=stream_id, offer_sdp=offer_sdp
    )
    return stream_id, answer


def _stream_row(stream_id: str, row: Device, officer: User, channel_id: str | None) -> StreamRecord:
    return StreamRecord(
        id=stream_id,
        officer_id=officer.id,
        officer_name=officer.display_name or officer.name,
        department=officer.department.code,
        incident_id=None,
        drill=False,
        source=f"gb28181:{row.device_id}" + (f"/{channel_id}" if channel_id else ""),
        started_at=utcnow(),
        segments=[],
        codecs={"video": "video/H264"},
    )
