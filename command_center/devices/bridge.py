"""The gateway's device events, turned into device rows, hub announcements and audit entries.

What a device said is audited with its raw bytes (base64), so a garbled name or a disputed registration
can be checked against exactly what arrived. Keepalives never reach here: they only touch the gateway's
memory. Positions update the device row and the position of the device's live streams (the map).
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from command_center.audit import service as audit
from command_center.auth.models import User
from command_center.db import Database, utcnow
from command_center.devices.models import Device
from command_center.events import Publisher, emit, unit_of_work
from streaming import Relay, StreamingError
from streaming.gb28181 import DeviceEvent

log = logging.getLogger(__name__)

#: Event type -> (audit action, outcome); events not listed are not audited.
AUDITED = {
    "registered": ("device.register", "ok"),
    "unregistered": ("device.unregister", "ok"),
    "auth_failed": ("device.auth_failed", "denied"),
    "offline": ("device.offline", "ok"),
    "catalog": ("device.catalog", "ok"),
    "device_info": ("device.info", "ok"),
    "bad_message": ("device.bad_message", "error"),
    "play_failed": ("device.play_failed", "error"),
}
#: Event types announced on the board (and the officer's department board).
ANNOUNCED = {"registered", "unregistered", "online", "offline", "auth_failed", "play_failed", "position"}


class DeviceBridge:
    """Implements ``streaming.gb28181.GatewayEvents`` for the application."""

    def __init__(self, database: Database, publisher: Publisher | None, relay: Relay, realm: str) -> None:
        self._database = database
        self._publisher = publisher
        self._relay = relay
        self._realm = realm
        self.gateway: Any = None  # set by the app once the gateway exists (positions to live plays)

    async def credentials(self, device_id: str) -> str | None:
        async with self._database.session() as session:
            row = await session.get(Device, device_id)
        if row is None or row.realm != self._realm:
            return None  # unknown, or registered under another CC_SIP_DOMAIN: the admin resets it
        return row.ha1

    async def on_device_event(self, event: DeviceEvent) -> None:
        async with unit_of_work(self._database, self._publisher) as session:
            row = await session.get(Device, event.device_id)
            officer = await session.get(User, row.officer_id) if row is not None else None
            self._apply(row, event)
            if event.type in AUDITED:
                action, outcome = AUDITED[event.type]
                detail: dict[str, Any] = {"event": event.data, "known": row is not None}
                if event.raw is not None:
                    detail["raw_b64"] = base64.b64encode(event.raw).decode("ascii")
                await audit.record(
                    session, action=action, target=f"device:{event.device_id}", outcome=outcome, detail=detail
                )
            if event.type in ANNOUNCED and row is not None:
                department = officer.department.code if officer else "section"
                emit(
                    session,
                    "board",
                    departments=[department],
                    type=f"device.{event.type}",
                    id=event.device_id,
                    device={"device_id": event.device_id, "officer_id": row.officer_id, **_public(event)},
                )

    def _apply(self, row: Device | None, event: DeviceEvent) -> None:
        if row is None:
            return
        data = event.data
        if event.type in ("registered", "online"):
            row.last_seen_at = utcnow()
        elif event.type == "catalog":
            row.channels = list(data.get("channels", []))
        elif event.type == "device_info":
            row.manufacturer = (data.get("manufacturer") or "")[:200]
            row.model = (data.get("model") or "")[:200]
            row.name = row.name or (data.get("name") or "")[:200]
        elif event.type == "position":
            row.lat, row.lon, row.position_at = data["lat"], data["lon"], utcnow()
            self._position_to_streams(event.device_id, data["lat"], data["lon"])
        elif event.type == "play_failed":
            row.last_diagnosis = data.get("diagnosis")

    def _position_to_streams(self, device_id: str, lat: float, lon: float) -> None:
        if self.gateway is None:
            return
        for play in self.gateway.snapshot(device_id).get("plays", []):
            try:
                self._relay.update_position(play["stream_id"], lat, lon)
            except StreamingError:
                log.debug("stream %s of device %s ended before its position", play["stream_id"], device_id)


def _public(event: DeviceEvent) -> dict[str, Any]:
    """What the board may see of an event (no raw bytes, no addresses of failed sign-ins' digests)."""
    data = event.data
    if event.type == "play_failed":
        diagnosis = data.get("diagnosis") or {}
        return {"channel_id": data.get("channel_id"), "failed": diagnosis.get("failed")}
    if event.type == "position":
        return {"lat": data.get("lat"), "lon": data.get("lon")}
    return {key: data[key] for key in ("reason", "transport", "renewal") if key in data}
