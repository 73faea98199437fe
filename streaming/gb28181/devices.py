"""What the gateway knows about each device: registration, liveness, channels, position (in memory).

The gateway is the only holder of live state (one process owns the SIP port); the application stores the
device list and bindings and asks the gateway for the live part. Liveness uses an injected clock, so tests
move time instead of waiting: a device is offline after ``missed`` keepalive intervals without one, or
when its registration expires.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from streaming.gb28181.transport import Peer


@dataclass(slots=True)
class Channel:
    channel_id: str
    name: str = ""
    status: str = ""
    manufacturer: str = ""
    model: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"id": self.channel_id, "name": self.name, "status": self.status, "model": self.model}


@dataclass(slots=True)
class DeviceState:
    device_id: str
    peer: Peer | None = None
    contact: str = ""
    transport: str = ""
    registered_at: float | None = None
    expires_at: float | None = None
    last_keepalive: float | None = None
    online: bool = False
    offline_reason: str | None = None
    channels: dict[str, Channel] = field(default_factory=dict)
    name: str = ""
    manufacturer: str = ""
    model: str = ""
    firmware: str = ""
    position: tuple[float, float] | None = None
    position_at: float | None = None
    #: When the MobilePosition subscription was last sent (``clock()``): the sweep renews it before it lapses.
    position_subscribed_at: float | None = None
    catalog_total: int | None = None

    def default_channel(self) -> str:
        """The first camera channel (type code 131/132 in digits 11-13), else the device itself."""
        for channel_id in self.channels:
            if channel_id[10:13] in ("131", "132"):
                return channel_id
        return next(iter(self.channels), self.device_id)


class Registry:
    """Live device state keyed by 20-digit id; times are ``clock()`` seconds, shown via ``wall``."""

    def __init__(self, clock: Callable[[], float], wall: Callable[[float], datetime] | None = None) -> None:
        self.clock = clock
        self._wall = wall
        self.devices: dict[str, DeviceState] = {}

    def get(self, device_id: str) -> DeviceState:
        state = self.devices.get(device_id)
        if state is None:
            state = self.devices[device_id] = DeviceState(device_id)
        return state

    def wall(self, value: float | None) -> str | None:
        """A ``clock()`` reading as ISO-8601 UTC (the clock may be monotonic or a test's)."""
        if value is None:
            return None
        if self._wall is not None:
            return self._wall(value).isoformat()
        return datetime.fromtimestamp(value, UTC).isoformat()

    def expired(self, keepalive_interval: float, missed: int) -> list[tuple[DeviceState, str]]:
        """Devices that just went offline, with the reason; marks them offline."""
        now = self.clock()
        gone = []
        for state in self.devices.values():
            if not state.online:
                continue
            reason = None
            if state.expires_at is not None and now >= state.expires_at:
                reason = "registration expired"
            elif (
                state.last_keepalive is not None and now - state.last_keepalive > keepalive_interval * missed
            ):
                reason = f"{missed} keepalives missed"
            if reason is not None:
                state.online = False
                state.offline_reason = reason
                gone.append((state, reason))
        return gone

    def snapshot(self, device_id: str) -> dict[str, Any]:
        state = self.devices.get(device_id)
        if state is None:
            return {"online": False, "registered": False}
        position = None
        if state.position is not None:
            lat, lon = state.position
            position = {"lat": lat, "lon": lon, "at": self.wall(state.position_at)}
        return {
            "online": state.online,
            "registered": state.expires_at is not None and state.online,
            "offline_reason": state.offline_reason,
            "transport": state.transport or None,
            "address": f"{state.peer.addr[0]}:{state.peer.addr[1]}" if state.peer else None,
            "last_keepalive": self.wall(state.last_keepalive),
            "registered_at": self.wall(state.registered_at),
            "name": state.name or None,
            "manufacturer": state.manufacturer or None,
            "model": state.model or None,
            "firmware": state.firmware or None,
            "channels": [channel.to_dict() for channel in state.channels.values()],
            "position": position,
        }
