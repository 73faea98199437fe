"""One live stream: its current upstream connection, its viewers' tracks, its recorder and its registry data.

The stream outlives any one publisher connection: when the publisher reconnects with the same stream id,
the new connection becomes the upstream, timestamps are made to continue where the old ones stopped, and a
keyframe is requested, while viewers' tracks keep running and never notice more than a short freeze.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiortc import RTCDataChannel, RTCPeerConnection, RTCRtpReceiver

from streaming.aiortc_internals import send_picture_loss, tap_encoded_frames
from streaming.events import EventType, Health, Position, StreamInfo
from streaming.frames import EncodedFrame, is_keyframe
from streaming.gop_cache import GopCache
from streaming.recording import SegmentRecorder
from streaming.track import ForwardingTrack, KeyframeRequester, Packetize

logger = logging.getLogger(__name__)

#: Assumed spacing between the last frame of an old upstream and the first of its replacement.
_STEP = {"video": 3000, "audio": 960}

Emit = Callable[[EventType, dict[str, Any]], None]


#: ``(kind, mime_type, clock_rate, data, rtp_timestamp)``: one encoded frame pushed by a non-WebRTC source.
FeedSink = Callable[[str, str, int, bytes, int], None]


class _Upstream:
    """One publisher connection (a browser, the CLI, or a viewer of another relay in a cascade), or a feed.

    A feed (``pc`` is None) is a source that is not a WebRTC peer (a demuxed pull, a GB/T 28181 device):
    it pushes encoded frames itself, and keyframe requests go to its ``request_keyframe`` callable.
    """

    def __init__(
        self, pc: RTCPeerConnection | None, request_keyframe: Callable[[], bool] | None = None
    ) -> None:
        self.pc = pc
        self.request_keyframe = request_keyframe
        self.receivers: dict[str, RTCRtpReceiver] = {}
        self.first_timestamp: dict[str, int] = {}


class _Timeline:
    """Keep one kind's RTP timestamps rising across upstream replacements."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.offset = 0
        self.last: int | None = None

    def start_upstream(self, first_ts: int) -> None:
        if self.last is not None:
            self.offset = self.last + _STEP[self.kind] - first_ts

    def map(self, ts: int) -> int:
        out = ts + self.offset
        self.last = out
        return out


class _FeedSink:
    """The callable a feed pushes frames through; bound to one upstream so a replaced feed is ignored."""

    __slots__ = ("stream", "upstream")

    def __init__(self, stream: Stream, upstream: _Upstream) -> None:
        self.stream = stream
        self.upstream = upstream

    def __call__(self, kind: str, mime: str, rate: int, data: bytes, ts: int) -> None:
        self.stream._on_frame(self.upstream, kind, mime, rate, data, ts)


class Stream:
    def __init__(
        self,
        stream_id: str,
        *,
        metadata: dict[str, Any],
        emit: Emit,
        recorder_factory: Callable[[Stream], SegmentRecorder] | None,
        keyframe_interval: float = 0.3,
    ) -> None:
        self.id = stream_id
        self.metadata = dict(metadata)
        self.started_at = datetime.now(UTC)
        self.live = True
        self.codecs: dict[str, str] = {}
        self.position: Position | None = None
        self.health: Health | None = None
        self._emit = emit
        self._upstream: _Upstream | None = None
        self._timelines = {kind: _Timeline(kind) for kind in _STEP}
        self._tracks: dict[str, set[ForwardingTrack]] = {"video": set(), "audio": set()}
        self.viewer_pcs: set[RTCPeerConnection] = set()
        self.keyframes = KeyframeRequester(self._send_picture_loss, min_interval=keyframe_interval)
        #: Filled only while a feed is the upstream: a WebRTC publisher is asked for a keyframe instead.
        self._gop = GopCache()
        self._counters = {"frames": 0, "bytes": 0, "since": time.monotonic()}
        self._lost_timer: asyncio.TimerHandle | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._peer_rtt_ms: float | None = None
        #: ``time.monotonic()`` of the last frame from any upstream (a cascade notices a silent source).
        self.last_frame_at = time.monotonic()
        self.recorder = recorder_factory(self) if recorder_factory else None

    # -- upstream ----------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        if self._upstream is None:
            return False
        return self._upstream.pc is None or self._upstream.pc.connectionState == "connected"

    @property
    def upstream_pc(self) -> RTCPeerConnection | None:
        return self._upstream.pc if self._upstream else None

    def attach_upstream(self, pc: RTCPeerConnection, kinds: set[str]) -> RTCPeerConnection | None:
        """Make ``pc`` the source of this stream; return the connection it replaces (to be closed).

        Call right after ``setRemoteDescription`` (the receivers must not have started yet).
        """
        upstream = _Upstream(pc)
        for transceiver in pc.getTransceivers():
            kind = transceiver.kind
            if kind in kinds and kind not in upstream.receivers:
                upstream.receivers[kind] = transceiver.receiver
                tap_encoded_frames(transceiver.receiver, self._frame_handler(upstream, kind))
        if self.recorder is not None:
            self.recorder.with_audio = self.recorder.with_audio or "audio" in upstream.receivers
            self.recorder.audio_only = "video" not in upstream.receivers
        old, self._upstream = self._upstream, upstream
        self._gop.clear()
        if self._lost_timer is not None:
            self._lost_timer.cancel()
            self._lost_timer = None
        if old is not None:
            # The new connection's first frames may not be a keyframe; viewers restart cleanly on one.
            for track in self._tracks["video"]:
                track.need_keyframe()
        self.keyframes.request()
        return old.pc if old else None

    def attach_feed(
        self, request_keyframe: Callable[[], bool] | None = None
    ) -> tuple[FeedSink, RTCPeerConnection | None]:
        """Make a pushing source the upstream; return its frame sink and the connection it replaces.

        ``request_keyframe`` is called (rate-limited) when a viewer needs a keyframe; it returns whether a
        request was sent. Frames pushed through an old sink after a replacement are ignored.
        """
        upstream = _Upstream(None, request_keyframe)
        old, self._upstream = self._upstream, upstream
        self._gop.clear()
        if self._lost_timer is not None:
            self._lost_timer.cancel()
            self._lost_timer = None
        if old is not None:
            for track in self._tracks["video"]:
                track.need_keyframe()
        self.keyframes.request()
        return _FeedSink(self, upstream), old.pc if old else None

    def owns(self, sink: FeedSink) -> bool:
        """Whether ``sink`` still feeds this stream (no other source took it over)."""
        return isinstance(sink, _FeedSink) and sink.upstream is self._upstream

    def feed_lost(self, sink: FeedSink, grace: float, on_expired: Callable[[], None]) -> None:
        """The feed behind ``sink`` stopped: keep viewers ``grace`` seconds in case a new feed takes over."""
        if not isinstance(sink, _FeedSink) or sink.upstream is not self._upstream or self._lost_timer:
            return
        self._emit("publisher_lost", {})
        self._lost_timer = asyncio.get_running_loop().call_later(grace, on_expired)

    def _frame_handler(self, upstream: _Upstream, kind: str) -> Callable[[str, int, bytes, int], None]:
        def on_frame(mime: str, rate: int, data: bytes, ts: int) -> None:
            self._on_frame(upstream, kind, mime, rate, data, ts)

        return on_frame

    def upstream_lost(self, pc: RTCPeerConnection, grace: float, on_expired: Callable[[], None]) -> None:
        """The publisher's connection failed: keep viewers for ``grace`` seconds in case it comes back."""
        if self._upstream is None or self._upstream.pc is not pc or self._lost_timer is not None:
            return
        self._emit("publisher_lost", {})
        self._lost_timer = asyncio.get_running_loop().call_later(grace, on_expired)

    def on_data_channel(self, channel: RTCDataChannel) -> None:
        """Accept the publisher's "telemetry" channel: JSON ``{lat, lon, accuracy, ts}`` and/or ``{rtt_ms}``.

        ``rtt_ms`` is the publisher's own measurement (its sender's remote-inbound-rtp roundTripTime):
        aiortc's receiver does not measure round trips, so the relay takes the peer's figure.
        """
        if channel.label != "telemetry":
            return

        @channel.on("message")
        def on_message(message: str | bytes) -> None:
            try:
                fix = json.loads(message)
                if fix.get("rtt_ms") is not None:
                    self._peer_rtt_ms = max(float(fix["rtt_ms"]), 0.0)
                if "lat" in fix:
                    ts = datetime.fromtimestamp(float(fix["ts"]) / 1000, UTC) if fix.get("ts") else None
                    accuracy = fix.get("accuracy")
                    self.set_position(
                        float(fix["lat"]),
                        float(fix["lon"]),
                        None if accuracy is None else float(accuracy),
                        ts,
                    )
            except (ValueError, KeyError, TypeError, OverflowError, AttributeError):
                logger.debug("stream %s: ignoring bad telemetry %r", self.id, message)

    def _on_frame(self, upstream: _Upstream, kind: str, mime: str, rate: int, data: bytes, ts: int) -> None:
        if upstream is not self._upstream or not self.live:
            return  # a replaced connection's last packets
        timeline = self._timelines[kind]
        if kind not in upstream.first_timestamp:
            upstream.first_timestamp[kind] = ts
            timeline.start_upstream(ts)
        keyframe = is_keyframe(mime, data)
        frame = EncodedFrame(kind, mime, rate, data, timeline.map(ts), keyframe)
        self.codecs[kind] = mime
        if kind == "video":
            if keyframe:
                self.keyframes.keyframe_arrived()
            if upstream.pc is None:
                self._gop.add(frame)
        self.last_frame_at = time.monotonic()
        if kind == "video":
            self._counters["frames"] += 1
        self._counters["bytes"] += len(data)
        for track in list(self._tracks[kind]):
            track.offer(frame)
        if self.recorder is not None:
            self.recorder.offer(frame)

    def _send_picture_loss(self) -> bool:
        if self._upstream is not None and self._upstream.pc is None:
            return bool(self._upstream.request_keyframe and self._upstream.request_keyframe())
        receiver = self._upstream.receivers.get("video") if self._upstream else None
        if receiver is None:
            return False
        tasks = send_picture_loss(receiver)
        for task in tasks:
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        return bool(tasks)

    # -- viewers -----------------------------------------------------------------------------------------

    def subscribe(self, kind: str, *, packetize: Packetize | None = None) -> ForwardingTrack:
        """Return a new bounded track of this stream's encoded ``kind`` frames (``av.Packet``s), or with
        ``packetize`` a direct-mode track whose frames go straight to its sender's ``RtpOutlet``."""
        track = ForwardingTrack(
            kind,
            on_keyframe_needed=self.keyframes.request,
            start_frames=self._gop.burst if kind == "video" else None,
            packetize=packetize,
        )
        self._tracks[kind].add(track)
        track.on("ended", lambda: self._tracks[kind].discard(track))
        return track

    @property
    def viewer_count(self) -> int:
        return len(self.viewer_pcs)

    def tracks(self, kind: str) -> set[ForwardingTrack]:
        return set(self._tracks[kind])

    def forwarding_delays(self) -> list[float]:
        """Recent seconds frames waited in the relay (tap to each viewer's sender), all viewers."""
        return [d for track in self._tracks["video"] for d in track.recent_delays]

    # -- registry data -----------------------------------------------------------------------------------

    def set_position(self, lat: float, lon: float, accuracy: float | None, ts: datetime | None) -> None:
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError(f"position out of range: {lat}, {lon}")
        self.position = Position(lat, lon, accuracy, ts or datetime.now(UTC))
        self._emit("position", {"lat": lat, "lon": lon, "accuracy": accuracy})

    async def sample_health(self) -> Health:
        """Measure fps and bitrate since the last sample, loss from the upstream receivers' stats."""
        now = time.monotonic()
        elapsed = max(now - self._counters["since"], 1e-6)
        fps = self._counters["frames"] / elapsed
        kbps = self._counters["bytes"] * 8 / elapsed / 1000
        self._counters.update(frames=0, bytes=0, since=now)
        received = lost = 0
        rtt: float | None = self._peer_rtt_ms
        if self._upstream is not None:
            for receiver in self._upstream.receivers.values():
                with contextlib.suppress(Exception):  # a closing transport has no stats; not worth failing
                    for stats in (await receiver.getStats()).values():
                        if stats.type == "inbound-rtp":
                            received += stats.packetsReceived
                            lost += max(stats.packetsLost, 0)
                        round_trip = getattr(stats, "roundTripTime", None)
                        if round_trip is not None:
                            rtt = round_trip * 1000
        total = received + lost
        delays = sorted(self.forwarding_delays())
        delay_p95 = round(delays[int(0.95 * (len(delays) - 1))] * 1000, 1) if delays else None
        self.health = Health(
            fps=round(fps, 1),
            bitrate_kbps=round(kbps, 1),
            packets_received=received,
            packets_lost=lost,
            loss_fraction=round(lost / total, 4) if total else 0.0,
            rtt_ms=rtt,
            viewers=self.viewer_count,
            forward_delay_ms_p95=delay_p95,
        )
        return self.health

    def info(self) -> StreamInfo:
        return StreamInfo(
            id=self.id,
            started_at=self.started_at,
            live=self.live,
            connected=self.connected,
            codecs=dict(self.codecs),
            viewers=self.viewer_count,
            health=self.health,
            position=self.position,
            recording=self.recorder is not None,
            metadata=dict(self.metadata),
        )

    async def end(self) -> list[dict[str, Any]]:
        """Leave the live list: stop viewers and upstream, finish the recording; return its manifest."""
        if not self.live:
            return self.recorder.entries if self.recorder else []
        self.live = False
        self.keyframes.close()
        if self._lost_timer is not None:
            self._lost_timer.cancel()
        for kind in self._tracks:
            for track in list(self._tracks[kind]):
                track.stop()
        pcs = list(self.viewer_pcs) + ([self._upstream.pc] if self._upstream and self._upstream.pc else [])
        self.viewer_pcs.clear()
        self._upstream = None
        await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)
        return await self.recorder.aclose() if self.recorder else []
