"""Encoded packets demuxed by PyAV, forwarded into the relay as they are (no decoding, no transcoding).

For sources that are not WebRTC peers: an RTSP/RTMP URL, a file, or a byte stream pushed by a network
protocol (``PushedBytes``, e.g. MPEG-PS reassembled from RTP). PyAV's demuxing blocks, so it runs in a
thread of its own per source; each packet crosses to the event loop with ``call_soon_threadsafe`` and is
pushed into a relay ``Feed``. What viewers get is exactly the source's bitstream, only normalised for
WebRTC packetizers: H.264 in Annex B form (``h264_mp4toannexb`` for MP4/FLV-style length prefixes) with the
parameter sets in front of every keyframe, and RTP timestamps on the 90 kHz video clock.

Usage::

    source = PacketSource(lambda: av.open(url, options={"rtsp_transport": "tcp"}))
    feed = await forward_into(relay, source, metadata={"officer": "..."})  # returns when the source ends
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NoReturn

import av
import av.container
from av.bitstream import BitStreamFilterContext

from streaming.errors import StreamingError
from streaming.feed import Feed
from streaming.relay import Relay

logger = logging.getLogger(__name__)

#: PyAV codec name -> the mime type the relay forwards. Anything else would need transcoding.
FORWARDABLE_CODECS = {"h264": "video/H264", "vp8": "video/VP8"}
VIDEO_CLOCK = 90_000

#: ``(kind, mime_type, clock_rate, data, rtp_timestamp)``, the signature of ``Feed.push``.
Push = Callable[[str, str, int, bytes, int], None]
Opener = Callable[[], av.container.InputContainer]


class SourceError(StreamingError):
    """The source could not be opened or read (no stream, corrupt data, connection refused...)."""


class UnsupportedCodec(SourceError):
    """The source's video is in a codec browsers cannot receive over WebRTC without transcoding."""

    def __init__(self, codec: str) -> None:
        super().__init__(
            f"video codec {codec!r} cannot be forwarded without transcoding; set the source to H.264 or VP8"
        )
        self.codec = codec


@dataclass(slots=True)
class SourceStatus:
    """What the source has done so far; the basis of a hop-by-hop diagnosis when video never shows."""

    opened: bool = False
    codec: str | None = None
    width: int = 0
    height: int = 0
    packets: int = 0
    keyframes: int = 0
    first_packet_at: float | None = None
    first_keyframe_at: float | None = None
    error: str | None = None


class PushedBytes:
    """A blocking, thread-safe file object for PyAV fed from the event loop (``write``) with stream bytes.

    ``read`` returns whatever has arrived (at least one byte) and blocks only while nothing has;
    after ``close`` it returns ``b""`` so the demuxer sees the end of the stream. Bytes beyond ``limit``
    waiting unread are dropped (and counted): a stalled demuxer must not grow memory without bound.
    """

    def __init__(self, limit: int = 8 * 1024 * 1024) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._limit = limit
        self._closed = False
        self._cond = threading.Condition()
        self.received = 0
        self.dropped = 0

    def write(self, data: bytes) -> None:
        with self._cond:
            if self._closed:
                return
            if self._size + len(data) > self._limit:
                self.dropped += len(data)
                return
            self._chunks.append(bytes(data))
            self._size += len(data)
            self.received += len(data)
            self._cond.notify()

    def read(self, size: int = -1) -> bytes:
        with self._cond:
            while not self._chunks and not self._closed:
                self._cond.wait()
            if not self._chunks:
                return b""
            out = bytearray()
            while self._chunks and (size < 0 or len(out) < size):
                chunk = self._chunks.popleft()
                room = len(chunk) if size < 0 else size - len(out)
                out += chunk[:room]
                if room < len(chunk):
                    self._chunks.appendleft(chunk[room:])
            self._size -= len(out)
            return bytes(out)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class _Normaliser:
    """Make one video stream's packets what WebRTC packetizers expect (see the module docstring)."""

    def __init__(self, stream: av.VideoStream) -> None:
        self.codec = stream.codec_context.name
        self.mime = FORWARDABLE_CODECS[self.codec]
        extradata = stream.codec_context.extradata or b""
        self._bsf: BitStreamFilterContext | None = None
        self._parameter_sets = b""
        if self.codec == "h264" and extradata[:1] == b"\x01":
            self._bsf = BitStreamFilterContext("h264_mp4toannexb", in_stream=stream)
        elif self.codec == "h264":
            self._parameter_sets = extradata
        rate = stream.average_rate or stream.guessed_rate
        self._step = int(VIDEO_CLOCK / rate) if rate else 3000
        self._first: int | None = None
        self._last: int | None = None

    def frames(self, packet: av.Packet[Any]) -> list[tuple[bytes, int, bool]]:
        """Return ``(annex_b_or_vp8_bytes, rtp_timestamp, keyframe)`` for one demuxed packet."""
        packets = self._bsf.filter(packet) if self._bsf is not None else [packet]
        out = []
        for item in packets:
            data = bytes(item)
            if not data:
                continue
            keyframe = bool(item.is_keyframe)
            if keyframe and self._parameter_sets and b"\x00\x00\x01\x67" not in data[:64]:
                data = self._parameter_sets + data
            out.append((data, self._timestamp(item), keyframe))
        return out

    def _timestamp(self, packet: av.Packet[Any]) -> int:
        value = packet.pts if packet.pts is not None else packet.dts
        if value is None or packet.time_base is None:
            ts = (self._last + self._step) if self._last is not None else 0
        else:
            ticks = int(Fraction(value) * packet.time_base * VIDEO_CLOCK)
            if self._first is None:
                self._first = ticks
            ts = ticks - self._first
        self._last = ts
        return ts


class PacketSource:
    """One demuxed video source: ``open()`` it, then ``pump(push)`` its packets until it ends.

    ``open_container`` runs in the source's thread and may block (network); ``interrupt`` is called by
    ``stop()`` to unblock it (``PushedBytes.close``, say). ``clock`` only timestamps the status.
    """

    def __init__(
        self,
        open_container: Opener,
        *,
        interrupt: Callable[[], None] | None = None,
        name: str = "source",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open_container = open_container
        self._interrupt = interrupt
        self._clock = clock
        self.name = name
        self.status = SourceStatus()
        self._container: av.container.InputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._normaliser: _Normaliser | None = None
        self._stopped = threading.Event()

    @property
    def mime_type(self) -> str | None:
        return self._normaliser.mime if self._normaliser else None

    async def open(self) -> str:
        """Open the container and pick its video stream; return the mime type to give the relay.

        Raises ``UnsupportedCodec`` (H.265, MJPEG...) or ``SourceError``.
        """
        await _in_thread(self._open, f"{self.name}-open")
        assert self._normaliser is not None
        return self._normaliser.mime

    async def pump(self, push: Push) -> None:
        """Demux until the end of the source or ``stop()``; raises ``SourceError`` on a read error."""
        if self._normaliser is None:
            raise SourceError("pump() before open()")
        loop = asyncio.get_running_loop()
        await _in_thread(lambda: self._demux(loop, push), f"{self.name}-demux")

    def stop(self) -> None:
        """Ask the demuxing thread to end; safe from any thread, any number of times."""
        self._stopped.set()
        if self._interrupt is not None:
            self._interrupt()

    # -- in the source's thread ----------------------------------------------------------------------

    def _open(self) -> None:
        try:
            container = self._open_container()
        except (av.FFmpegError, OSError, ValueError) as exc:
            self._fail(f"cannot open the source: {exc}")
        self._container = container
        video = [s for s in container.streams if s.type == "video"]
        if not video:
            container.close()
            self._fail("the source has no video stream")
        stream = video[0]
        assert isinstance(stream, av.VideoStream)
        codec = stream.codec_context.name
        self.status.opened = True
        self.status.codec = codec
        self.status.width = stream.codec_context.width
        self.status.height = stream.codec_context.height
        if codec not in FORWARDABLE_CODECS:
            container.close()
            self.status.error = UnsupportedCodec(codec).detail
            raise UnsupportedCodec(codec)
        self._stream = stream
        self._normaliser = _Normaliser(stream)

    def _demux(self, loop: asyncio.AbstractEventLoop, push: Push) -> None:
        container, normaliser = self._container, self._normaliser
        assert container is not None and normaliser is not None and self._stream is not None
        try:
            for packet in container.demux(self._stream):
                if self._stopped.is_set():
                    break
                if packet.size == 0:
                    continue
                for data, ts, keyframe in normaliser.frames(packet):
                    self._count(keyframe)
                    try:
                        loop.call_soon_threadsafe(push, "video", normaliser.mime, VIDEO_CLOCK, data, ts)
                    except RuntimeError:  # the event loop closed under us: nobody is listening any more
                        return
        except av.FFmpegError as exc:
            if not self._stopped.is_set():
                self._fail(f"cannot read the source: {exc}")
        finally:
            container.close()

    def _count(self, keyframe: bool) -> None:
        now = self._clock()
        status = self.status
        status.packets += 1
        if status.first_packet_at is None:
            status.first_packet_at = now
        if keyframe:
            status.keyframes += 1
            if status.first_keyframe_at is None:
                status.first_keyframe_at = now

    def _fail(self, detail: str) -> NoReturn:
        self.status.error = detail
        raise SourceError(detail)


async def forward_into(
    relay: Relay,
    source: PacketSource,
    *,
    stream_id: str | None = None,
    record: bool = True,
    metadata: dict[str, Any] | None = None,
    request_keyframe: Callable[[], bool] | None = None,
    on_started: Callable[[Feed], None] | None = None,
) -> Feed:
    """Open ``source``, feed a relay stream (new, or ``stream_id`` taken over) until the source ends.

    ``on_started`` hears the feed as soon as the stream exists (to announce it). When the source ends or
    fails, the feed is marked lost: viewers stay for the relay's reconnect grace, so a caller that
    reconnects passes the same ``stream_id`` and they never notice. Errors propagate after that.
    """
    mime = await source.open()
    feed = relay.open_feed(
        {"video": mime},
        stream_id=stream_id,
        record=record,
        metadata=metadata,
        request_keyframe=request_keyframe,
    )
    if on_started is not None:
        on_started(feed)
    try:
        await source.pump(feed.push)
    finally:
        feed.lost()
    return feed


async def _in_thread(function: Callable[[], None], name: str) -> None:
    """Run a blocking call in a thread of its own (demuxing lasts as long as the source)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def settle(error: BaseException | None) -> None:
        if done.cancelled():
            return
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)

    def run() -> None:
        error: BaseException | None = None
        try:
            function()
        except BaseException as exc:  # handed to the awaiting coroutine, never lost in the thread
            error = exc
        try:
            loop.call_soon_threadsafe(settle, error)
        except RuntimeError:  # the loop closed while we ran: nobody is waiting any more
            pass

    threading.Thread(target=run, name=name, daemon=True).start()
    await done
