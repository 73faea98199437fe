"""The field publisher without a browser: send tracks to a relay, reconnecting to the same stream.

It knows nothing of HTTP: ``signal(offer) -> answer`` carries ``{"sdp", "type": "offer"}`` plus
``"stream_id"`` on a reconnection, and must return ``{"id", "sdp", "type": "answer"}``. A signal that
raises ``UnknownStream`` on a reconnection (the relay already ended the stream) makes the publisher start a
new stream. Offers are sent complete (non-trickle): aiortc gathers candidates inside setLocalDescription.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from streaming.errors import SignalingError, StreamingError, UnknownStream
from streaming.negotiation import capabilities, ice_configuration

logger = logging.getLogger(__name__)

Signal = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
TrackFactory = Callable[[], list[MediaStreamTrack]]


class Publisher:
    """Publish the tracks made by ``make_tracks`` (called again for each connection: senders stop tracks).

    ``video_codec`` ("video/VP8" or "video/H264") restricts what is offered; otherwise the relay's answer
    picks from aiortc's default order (VP8 first).
    """

    def __init__(
        self,
        signal: Signal,
        make_tracks: TrackFactory,
        *,
        incident_id: str | None = None,
        video_codec: str | None = None,
        retry_delay: float = 1.0,
        max_retry_delay: float = 15.0,
        media_timeout: float = 6.0,
        configuration: RTCConfiguration | None = None,
    ) -> None:
        self._signal = signal
        self._configuration = configuration or ice_configuration()
        self._make_tracks = make_tracks
        self._incident_id = incident_id
        self._video_codec = video_codec
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._media_timeout = media_timeout
        self._connected_at = 0.0
        self._pc: RTCPeerConnection | None = None
        self._telemetry: Any = None
        self._failed = asyncio.Event()
        self.stream_id: str | None = None
        self.connections = 0

    @property
    def pc(self) -> RTCPeerConnection | None:
        return self._pc

    async def connect(self) -> str:
        """Open one connection (a new stream, or the same stream after a drop); return the stream id."""
        await self._close_pc()
        pc = RTCPeerConnection(self._configuration)
        for track in self._make_tracks():
            sender = pc.addTrack(track)
            if track.kind == "video" and self._video_codec:
                transceiver = next(t for t in pc.getTransceivers() if t.sender is sender)
                transceiver.setCodecPreferences(capabilities("video", [self._video_codec]))
        self._telemetry = pc.createDataChannel("telemetry")
        self._failed.clear()

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and pc is self._pc:
                self._failed.set()

        self._pc = pc
        await pc.setLocalDescription(await pc.createOffer())
        offer: dict[str, Any] = {"sdp": pc.localDescription.sdp, "type": "offer"}
        if self._incident_id is not None:
            offer["incident_id"] = self._incident_id
        if self.stream_id is not None:
            offer["stream_id"] = self.stream_id
        try:
            try:
                answer = await self._signal(offer)
            except UnknownStream:
                offer.pop("stream_id", None)
                answer = await self._signal(offer)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        except StreamingError:
            raise
        except Exception as exc:
            raise SignalingError(f"publishing failed: {exc}") from exc
        self.stream_id = str(answer["id"])
        self.connections += 1
        self._connected_at = time.time()
        return self.stream_id

    def send_position(self, lat: float, lon: float, accuracy: float | None = None) -> bool:
        """Send a GPS fix over the "telemetry" data channel; False if it is not open yet."""
        channel = self._telemetry
        if channel is None or channel.readyState != "open":
            return False
        fix = {"lat": lat, "lon": lon, "accuracy": accuracy, "ts": int(time.time() * 1000)}
        channel.send(json.dumps(fix))
        return True

    async def send_stats(self) -> bool:
        """Send the sender's measured round-trip time over "telemetry" (the relay cannot measure it)."""
        pc, channel = self._pc, self._telemetry
        if pc is None or channel is None or channel.readyState != "open":
            return False
        for stats in (await pc.getStats()).values():
            if stats.type == "remote-inbound-rtp" and getattr(stats, "roundTripTime", None) is not None:
                channel.send(json.dumps({"rtt_ms": round(stats.roundTripTime * 1000, 1)}))
                return True
        return False

    async def is_stale(self) -> bool:
        """Tell whether the relay stopped acknowledging media (no RTCP receiver report lately).

        A dropped network only fails the ICE connection after aiortc's consent checks give up (about
        30 s); the relay's receiver reports arrive about every second, so their silence is a faster sign.
        """
        pc = self._pc
        if pc is None or time.time() - self._connected_at < self._media_timeout:
            return False
        reports: list[datetime] = [
            s.timestamp for s in (await pc.getStats()).values() if s.type == "remote-inbound-rtp"
        ]
        if not reports:
            return True
        return time.time() - max(reports).timestamp() > self._media_timeout

    async def run(self, duration: float | None = None, stats_interval: float = 2.0) -> None:
        """Publish until ``duration`` elapses (forever if None), reconnecting when the connection fails.

        Transient failures (``SignalingError``: server unreachable, 5xx) are retried with backoff; a
        refusal (any other ``StreamingError``) ends the run. Every ``stats_interval`` the measured
        round-trip time goes to the relay over the "telemetry" channel.
        """
        loop = asyncio.get_running_loop()
        deadline = None if duration is None else loop.time() + duration
        delay = self._retry_delay
        try:
            while deadline is None or loop.time() < deadline:
                if self._pc is None or self._failed.is_set():
                    try:
                        await self.connect()
                        delay = self._retry_delay
                    except SignalingError as exc:
                        logger.warning("publish failed (%s); retrying in %.0f s", exc.detail, delay)
                        await self._close_pc()
                        await asyncio.sleep(_remaining(deadline, loop.time(), delay))
                        delay = min(delay * 2, self._max_retry_delay)
                        continue
                remaining = stats_interval if deadline is None else max(deadline - loop.time(), 0)
                try:
                    await asyncio.wait_for(self._failed.wait(), min(remaining, stats_interval))
                    logger.warning("connection lost; reconnecting to stream %s", self.stream_id)
                except TimeoutError:
                    await self.send_stats()
                    if await self.is_stale():
                        logger.warning("no receiver reports for %.0f s; reconnecting", self._media_timeout)
                        self._failed.set()
        finally:
            await self.close()

    async def close(self) -> None:
        await self._close_pc()

    async def _close_pc(self) -> None:
        pc, self._pc = self._pc, None
        if pc is not None:
            await pc.close()


def _remaining(deadline: float | None, now: float, delay: float) -> float:
    return delay if deadline is None else max(min(delay, deadline - now), 0)
