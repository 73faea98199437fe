"""The forwarding relay: publishers in, encoded frames out to every viewer, recordings on the side.

Nothing here decodes or encodes media. Each publisher frame is tapped from aiortc's receiver as it is
reassembled, wrapped once in an ``av.Packet`` and offered to every viewer's bounded track; each viewer's
``RTCRtpSender`` then only packetizes and encrypts it (about 0.006 core per 480p viewer, against about
0.13 for aiortc's decode-then-encode path through ``MediaRelay``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from streaming.aiortc_internals import answer_as_dtls_server, on_keyframe_request, send_rtp_directly
from streaming.errors import CodecMismatch, RelayFull, SignalingError, StreamingError, UnknownStream
from streaming.event_pump import EventPump
from streaming.events import EventType, StreamEvents, StreamInfo
from streaming.feed import Feed
from streaming.frames import EncodedFrame
from streaming.negotiation import (
    answered_codecs,
    apply_offer,
    capabilities,
    check_viewer_codecs,
    forwardable,
    ice_configuration,
    parse_offer,
)
from streaming.recording import SegmentRecorder, read_manifest
from streaming.stream import Stream
from streaming.track import ForwardingTrack

logger = logging.getLogger(__name__)

#: Stream ids are uuid4 hex; an adopted id must look like one (it names a recordings folder).
_STREAM_ID = re.compile(r"[0-9a-f]{32}")

Signal = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class PublishResult:
    stream_id: str
    answer_sdp: str


@dataclass(frozen=True, slots=True)
class ViewResult:
    """One viewer connection: ``session_id`` ends it (``close_view``), as a WHEP session resource does."""

    stream_id: str
    session_id: str
    answer_sdp: str


class Relay:
    """Ingest, forward, record. One per process; the application makes it in its lifespan and closes it."""

    def __init__(
        self,
        recordings_dir: Path,
        events: StreamEvents | None = None,
        *,
        segment_seconds: float = 300.0,
        reconnect_grace: float = 30.0,
        health_interval: float = 2.0,
        keyframe_interval: float = 0.3,
        configuration: RTCConfiguration | None = None,
        max_streams: int | None = None,
        max_viewers: int | None = None,
        retry_after: int = 10,
    ) -> None:
        self.recordings_dir = Path(recordings_dir)
        self._segment_seconds = segment_seconds
        self._reconnect_grace = reconnect_grace
        self._keyframe_interval = keyframe_interval
        self._configuration = configuration or ice_configuration()
        #: Capacity of this process; beyond it ``publish`` and ``view`` raise ``RelayFull``.
        self.max_streams = max_streams
        self.max_viewers = max_viewers
        self._retry_after = retry_after
        self._views: dict[str, tuple[Stream, RTCPeerConnection]] = {}
        self._streams: dict[str, Stream] = {}
        self._events = EventPump(events, self._streams.values, health_interval=health_interval)
        self._background: set[asyncio.Future[Any]] = set()
        self._closed = False

    # -- publishing --------------------------------------------------------------------------------------

    async def publish(
        self,
        offer_sdp: str,
        *,
        stream_id: str | None = None,
        record: bool = True,
        metadata: dict[str, Any] | None = None,
        adopt: bool = False,
    ) -> PublishResult:
        """Accept a publisher's offer; with ``stream_id``, a reconnection that takes over that live stream.

        ``adopt`` revives ``stream_id`` when this relay does not hold it (it lived in a process that has
        since restarted), so the stream keeps its id. Raises ``BadSdp``, ``CodecMismatch`` (nothing
        forwardable: VP8, H.264, Opus) or ``UnknownStream``.
        """
        offered = parse_offer(offer_sdp)
        kinds = {k for k, mimes in offered.items() if {m.lower() for m in mimes} & _lower(forwardable(k))}
        if not kinds:
            raise CodecMismatch("the offer has none of VP8, H264 or opus; the relay does not transcode")
        existing = self._existing(stream_id, adopt)
        if existing is None:
            self._check_stream_capacity()
        pc = RTCPeerConnection(self._configuration)
        for kind in sorted(kinds):
            transceiver = pc.addTransceiver(kind, direction="recvonly")
            transceiver.setCodecPreferences(capabilities(kind, _allowed(existing, kind)))
        stream = existing or self._new_stream(record, metadata or {}, stream_id if adopt else None)
        try:
            await apply_offer(pc, offer_sdp)
            replaced = stream.attach_upstream(pc, kinds)  # no await since apply_offer: receivers not started
            answer_as_dtls_server(pc)
            self._watch_upstream(stream, pc)
            pc.on("datachannel", stream.on_data_channel)
            await pc.setLocalDescription(await pc.createAnswer())
        except BaseException:
            await pc.close()
            if existing is None:
                await self._discard(stream)
            raise
        answer_sdp = pc.localDescription.sdp
        for kind, mime in answered_codecs(answer_sdp).items():
            stream.codecs.setdefault(kind, mime)
        if replaced is not None:
            self._spawn(replaced.close())
        self._emit(stream, "publisher_reconnected" if existing else "started", {})
        return PublishResult(stream.id, answer_sdp)

    async def pull(
        self,
        signal: Signal,
        *,
        stream_id: str | None = None,
        record: bool = True,
        metadata: dict[str, Any] | None = None,
        adopt: bool = False,
    ) -> PublishResult:
        """Ingest a stream by viewing it elsewhere (cascade): ``signal(offer) -> answer`` reaches the source.

        ``stream_id`` re-pulls into that live stream (its viewers stay); with ``adopt`` it also revives an
        id this relay does not hold (a cascade resumed after this process restarted).

        The source is any WebRTC endpoint that answers a receive-only offer, such as another relay's
        ``view`` (a command centre feeding its superior department). Keyframe requests from this relay's
        viewers travel up the chain as PLI.
        """
        existing = self._existing(stream_id, adopt)
        pc = RTCPeerConnection(self._configuration)
        for kind in ("video", "audio"):
            transceiver = pc.addTransceiver(kind, direction="recvonly")
            transceiver.setCodecPreferences(capabilities(kind, _allowed(existing, kind)))
        stream = existing or self._new_stream(record, metadata or {}, stream_id if adopt else None)
        try:
            replaced = stream.attach_upstream(pc, {"video", "audio"})
            await pc.setLocalDescription(await pc.createOffer())
            try:
                reply = await signal({"sdp": pc.localDescription.sdp, "type": "offer"})
                answer = RTCSessionDescription(sdp=reply["sdp"], type="answer")
            except StreamingError:
                raise
            except Exception as exc:
                raise SignalingError(f"the source did not answer: {exc}") from exc
            for kind, mime in answered_codecs(answer.sdp).items():
                stream.codecs[kind] = mime
            self._watch_upstream(stream, pc)
            await pc.setRemoteDescription(answer)
        except BaseException:
            await pc.close()
            if existing is None:
                await self._discard(stream)
            raise
        if replaced is not None:
            self._spawn(replaced.close())
        self._emit(stream, "publisher_reconnected" if existing else "started", {"cascade": True})
        return PublishResult(stream.id, answer.sdp)

    def open_feed(
        self,
        codecs: dict[str, str],
        *,
        stream_id: str | None = None,
        record: bool = True,
        metadata: dict[str, Any] | None = None,
        request_keyframe: Callable[[], bool] | None = None,
    ) -> Feed:
        """Start (or, with ``stream_id``, take over) a stream whose source pushes encoded frames itself.

        For sources that are not WebRTC peers (a demuxed RTSP/RTMP pull, a GB/T 28181 camera): ``codecs``
        maps kind to mime type (``{"video": "video/H264"}``), fixed for the stream's life because viewers
        are pinned to it. Raises ``CodecMismatch`` for anything the relay cannot forward untranscoded.
        """
        for kind, mime in codecs.items():
            if mime.lower() not in _lower(forwardable(kind)):
                raise CodecMismatch(f"{kind} codec {mime} cannot be forwarded; the relay does not transcode")
        existing = self._live(stream_id) if stream_id is not None else None
        if existing is not None:
            for kind, mime in codecs.items():
                pinned = existing.codecs.get(kind)
                if pinned is not None and pinned.lower() != mime.lower():
                    raise CodecMismatch(f"stream {existing.id} is {pinned}; a new source sends {mime}")
        stream = existing or self._new_stream(record, metadata or {})
        sink, replaced = stream.attach_feed(request_keyframe)
        for kind, mime in codecs.items():
            stream.codecs[kind] = mime
        if replaced is not None:
            self._spawn(replaced.close())
        self._emit(stream, "publisher_reconnected" if existing else "started", {"feed": True})
        return Feed(
            stream,
            sink,
            reconnect_grace=self._reconnect_grace,
            end=lambda: self._end(stream),
            end_soon=lambda: self._spawn(self._end(stream)),
        )

    # -- viewing -----------------------------------------------------------------------------------------

    @property
    def configuration(self) -> RTCConfiguration:
        """The ICE configuration of every peer connection this relay makes."""
        return self._configuration

    async def view(self, stream_id: str, offer_sdp: str) -> str:
        """Answer a viewer's offer; the viewer gets exactly the publisher's codecs (no transcoding)."""
        return (await self.open_view(stream_id, offer_sdp)).answer_sdp

    async def open_view(self, stream_id: str, offer_sdp: str) -> ViewResult:
        """Like ``view``, and name the viewer connection so that ``close_view`` can end it."""
        stream = self._live(stream_id)
        if self.max_viewers is not None and self.viewer_count >= self.max_viewers:
            raise RelayFull(
                f"this relay already serves {self.viewer_count} viewers (limit {self.max_viewers})",
                self._retry_after,
            )
        pinned = check_viewer_codecs(parse_offer(offer_sdp), stream.codecs)
        pc = RTCPeerConnection(self._configuration)
        tracks: list[ForwardingTrack] = []
        for kind, mime in pinned.items():
            # Opus listeners (push-to-talk, talk-back) are sent to from the stream's pass over its
            # listeners, not by a sender coroutine each (aiortc_internals.send_rtp_directly).
            opus = mime.lower() == "audio/opus"
            track = stream.subscribe(kind, packetize=EncodedFrame.opus_payloads if opus else None)
            tracks.append(track)
            transceiver = pc.addTransceiver(track, direction="sendonly")
            transceiver.setCodecPreferences(capabilities(kind, [mime]))
            if opus:
                send_rtp_directly(transceiver.sender, track)
            if kind == "video":
                on_keyframe_request(transceiver.sender, stream.keyframes.request)
        try:
            await apply_offer(pc, offer_sdp)
            answer_as_dtls_server(pc)
            await pc.setLocalDescription(await pc.createAnswer())
        except BaseException:
            for track in tracks:
                track.stop()
            await pc.close()
            raise
        stream.viewer_pcs.add(pc)
        session_id = uuid.uuid4().hex
        self._views[session_id] = (stream, pc)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                stream.viewer_pcs.discard(pc)
                self._views.pop(session_id, None)
                for track in tracks:
                    track.stop()
                await pc.close()

        return ViewResult(stream.id, session_id, pc.localDescription.sdp)

    async def close_view(self, session_id: str) -> bool:
        """End one viewer connection; False if there is none by that id (already gone)."""
        found = self._views.pop(session_id, None)
        if found is None:
            return False
        stream, pc = found
        stream.viewer_pcs.discard(pc)
        await pc.close()
        return True

    def view_stream(self, session_id: str) -> str | None:
        """The stream a live viewer session watches, or None."""
        found = self._views.get(session_id)
        return found[0].id if found else None

    @property
    def viewer_count(self) -> int:
        return sum(s.viewer_count for s in self._streams.values())

    def silence(self, stream_id: str) -> float:
        """Seconds since the stream's last frame arrived (from any upstream); UnknownStream if not live."""
        return time.monotonic() - self._live(stream_id).last_frame_at

    def forwarding_delays(self, stream_id: str) -> list[float]:
        """Recent seconds video frames waited in this relay before each viewer's sender took them."""
        return self._live(stream_id).forwarding_delays()

    def forwarding_stats(self, stream_id: str) -> dict[str, dict[str, int]]:
        """Per viewer track: frames handed to its sender, frames dropped, resyncs, frames queued now."""
        stream = self._live(stream_id)
        return {
            track.id: {
                "frames_sent": track.frames_sent,
                "frames_dropped": track.frames_dropped,
                "resyncs": track.resyncs,
                "queued": track.queue_size,
            }
            for kind in ("video", "audio")
            for track in stream.tracks(kind)
        }

    def subscribe(self, stream_id: str, kind: str = "video") -> ForwardingTrack:
        """Return an in-process track of encoded frames (``av.Packet``), bounded like a viewer's."""
        return self._live(stream_id).subscribe(kind)

    # -- registry ----------------------------------------------------------------------------------------

    def streams(self) -> list[StreamInfo]:
        """Live streams, oldest first."""
        return [s.info() for s in sorted(self._streams.values(), key=lambda s: s.started_at)]

    def get(self, stream_id: str) -> StreamInfo:
        return self._live(stream_id).info()

    def update_position(
        self,
        stream_id: str,
        lat: float,
        lon: float,
        accuracy: float | None = None,
        ts: datetime | None = None,
    ) -> None:
        """Record the publisher's last GPS fix (also accepted over its "telemetry" data channel)."""
        try:
            self._live(stream_id).set_position(lat, lon, accuracy, ts)
        except ValueError as exc:
            raise StreamingError(str(exc)) from exc

    def recording_dir(self, stream_id: str) -> Path:
        if not stream_id or "/" in stream_id or stream_id.startswith("."):
            raise UnknownStream(stream_id)
        return self.recordings_dir / stream_id

    def manifest(self, stream_id: str) -> list[dict[str, Any]]:
        """Every closed recording segment of a stream, live or ended, with its SHA-256."""
        return read_manifest(self.recording_dir(stream_id))

    async def stop(self, stream_id: str) -> list[dict[str, Any]]:
        """End a stream now (viewers are disconnected); return its recording manifest entries."""
        return await self._end(self._live(stream_id))

    async def close(self) -> None:
        self._closed = True
        await asyncio.gather(*(self._end(s) for s in list(self._streams.values())))
        await self._events.close()

    # -- internals ---------------------------------------------------------------------------------------

    def _live(self, stream_id: str | None) -> Stream:
        stream = self._streams.get(stream_id or "")
        if stream is None or not stream.live:
            raise UnknownStream(str(stream_id))
        return stream

    def _check_stream_capacity(self) -> None:
        if self.max_streams is not None and len(self._streams) >= self.max_streams:
            raise RelayFull(
                f"this relay already holds {len(self._streams)} streams (limit {self.max_streams})",
                self._retry_after,
            )

    def _existing(self, stream_id: str | None, adopt: bool) -> Stream | None:
        """The live stream ``stream_id`` names; None for a new one (or, with ``adopt``, a revived id)."""
        if stream_id is None:
            return None
        if adopt and stream_id not in self._streams:
            if not _STREAM_ID.fullmatch(stream_id):
                raise UnknownStream(stream_id)
            return None
        return self._live(stream_id)

    def _new_stream(self, record: bool, metadata: dict[str, Any], stream_id: str | None = None) -> Stream:
        if self._closed:
            raise StreamingError("the relay is closed")
        self._events.start()
        stream_id = stream_id or uuid.uuid4().hex
        loop = asyncio.get_running_loop()

        def recorder(stream: Stream) -> SegmentRecorder:
            return SegmentRecorder(
                self.recording_dir(stream.id),
                stream.id,
                loop=loop,
                on_segment_closed=lambda entry: self._emit(stream, "recording_segment_closed", entry),
                request_keyframe=stream.keyframes.request,
                segment_seconds=self._segment_seconds,
            )

        stream = Stream(
            stream_id,
            metadata=metadata,
            emit=lambda type_, data: self._emit(self._streams.get(stream_id), type_, data),
            recorder_factory=recorder if record else None,
            keyframe_interval=self._keyframe_interval,
        )
        self._streams[stream_id] = stream
        return stream

    async def _discard(self, stream: Stream) -> None:
        self._streams.pop(stream.id, None)
        await stream.end()

    async def _end(self, stream: Stream) -> list[dict[str, Any]]:
        if not stream.live:
            return []
        entries = await stream.end()
        self._streams.pop(stream.id, None)
        self._emit(stream, "ended", {"segments": len(entries)})
        return entries

    def _watch_upstream(self, stream: Stream, pc: RTCPeerConnection) -> None:
        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and stream.live:
                if pc is stream.upstream_pc:
                    logger.warning("stream %s: publisher connection %s", stream.id, pc.connectionState)
                stream.upstream_lost(pc, self._reconnect_grace, lambda: self._spawn(self._end(stream)))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _emit(self, stream: Stream | None, type_: EventType, data: dict[str, Any]) -> None:
        self._events.emit(stream, type_, data)


def _allowed(existing: Stream | None, kind: str) -> list[str]:
    """A reconnecting publisher must keep the stream's codec: its viewers are pinned to it."""
    if existing is not None and kind in existing.codecs:
        return [existing.codecs[kind]]
    return forwardable(kind)


def _lower(values: list[str]) -> set[str]:
    return {v.lower() for v in values}
