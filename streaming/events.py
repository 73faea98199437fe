"""What the relay tells the application: stream snapshots and change events, through a small Protocol.

The application implements ``StreamEvents`` (publishing to its hub, writing the audit log); the relay
never imports it. Events are delivered one at a time, in order, from a bounded queue; a failing handler is
logged and never stalls the relay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

EventType = Literal[
    "started",  # a publisher's first connection
    "health",  # periodic fps / bitrate / loss / rtt
    "position",  # a new GPS fix (from the app or the "telemetry" data channel)
    "publisher_lost",  # the publisher's connection failed; viewers are kept during the grace period
    "publisher_reconnected",  # a new connection took over the same stream id
    "ended",  # the stream left the live list (recordings stay)
    "recording_segment_closed",  # data: one manifest entry with the segment's SHA-256
]


@dataclass(frozen=True, slots=True)
class Position:
    lat: float
    lon: float
    accuracy: float | None
    ts: datetime


@dataclass(frozen=True, slots=True)
class Health:
    """Measured over the last health interval; ``None`` where the peer's stats do not say."""

    fps: float
    bitrate_kbps: float
    packets_received: int
    packets_lost: int
    loss_fraction: float
    rtt_ms: float | None
    viewers: int
    #: How long frames wait inside the relay before a viewer's sender takes them (95th percentile).
    forward_delay_ms_p95: float | None = None


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """A snapshot of one stream for ``GET /api/streams``."""

    id: str
    started_at: datetime
    live: bool
    connected: bool
    codecs: dict[str, str]
    viewers: int
    health: Health | None
    position: Position | None
    recording: bool
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamEvent:
    type: EventType
    stream_id: str
    at: datetime
    info: StreamInfo
    data: dict[str, Any] = field(default_factory=dict)


class StreamEvents(Protocol):
    """Implemented by the application to hear about streams."""

    async def on_stream_event(self, event: StreamEvent) -> None: ...
