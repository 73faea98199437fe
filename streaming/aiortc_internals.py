"""Every reliance on aiortc internals (checked against aiortc 1.16), in one place so an upgrade breaks here.

aiortc has no public way to receive encoded frames without decoding them (aiortc#136, #449, #1176 were
closed without one), and ``RTCRtpSender`` answers a viewer's PLI by setting a flag that only its own
encoder reads, so with pre-encoded ``av.Packet`` input the request is silently dropped. The hooks:

* ``tap_encoded_frames``: swap the receiver's decoder input queue for one that hands each reassembled
  ``(codec, JitterFrame)`` to a callback on the event loop. The decoder thread still starts but only ever
  sees the stop sentinel, so nothing is decoded and nothing accumulates (aiortc's own queue is unbounded).
  It also swaps in ``_EagerJitterBuffer``: aiortc's video buffer releases a frame only when the first
  packet of the *next* frame arrives (one frame interval, 33 ms at 30 fps, per relay hop) and its audio
  buffer holds four packets (80 ms); ours releases a video frame as soon as the packet carrying the RTP
  marker bit completes it, and an audio packet (one Opus frame) as soon as it is in order.
* ``send_picture_loss``: ask the publisher for a keyframe with the receiver's own RTCP PLI.
* ``on_keyframe_request``: route a viewer's PLI/FIR arriving at a sender to a callback.
* ``send_rtp_directly``: replace a sender's RTP loop (one coroutine per listener, woken for every packet)
  by a hand-over: once the sender starts, the relay's single pass over a stream's listeners writes each
  listener's packets itself (``rtp_out.RtpOutlet``: header and negotiated extensions, SRTP protect with the
  listener's session, ``sendto`` on its nominated ICE pair) and feeds the sender's packet, octet and
  timestamp counters, so aiortc's own RTCP loop still sends correct sender reports, and stop/BYE work as
  before. At 50 push-to-talk listeners aiortc's per-packet sender work was most of the relay's CPU.
* ``answer_as_dtls_server``: answer ``a=setup:passive`` so the peer starts the DTLS handshake. As the
  answerer aiortc otherwise takes the client role and may send its ClientHello before the peer has even
  read the answer (it is still in the WHIP response); browsers buffer it, GStreamer's webrtcbin does not
  and its handshake fails. With the relay as server, the first DTLS packet always comes from the peer.

``tests/streaming/test_aiortc_internals.py`` pins these assumptions.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import Callable
from typing import Any, Protocol

from aiortc import RTCPeerConnection, RTCRtpCodecParameters, RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket
from aiortc.utils import random32, uint16_add

from streaming.errors import StreamingError
from streaming.rtp_out import RtpOutlet, extension_block

logger = logging.getLogger(__name__)

#: ``(mime_type, clock_rate, data, rtp_timestamp)`` for one complete encoded frame.
FrameCallback = Callable[[str, int, bytes, int], None]

_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_STARTED_ATTR = "_RTCRtpReceiver__started"
_JITTER_ATTR = "_RTCRtpReceiver__jitter_buffer"
_KIND_ATTR = "_RTCRtpReceiver__kind"
_MAPPER_ATTR = "_RTCRtpReceiver__timestamp_mapper"
_RTP_STARTED_ATTR = "_RTCRtpSender__rtp_started"
_RTP_EXITED_ATTR = "_RTCRtpSender__rtp_exited"
_EXT_MAP_ATTR = "_RTCRtpSender__rtp_header_extensions_map"
_MID_ATTR = "_RTCRtpSender__mid"
_TRACK_ATTR = "_RTCRtpSender__track"
_COUNTER_ATTRS = (
    "_RTCRtpSender__ntp_timestamp",
    "_RTCRtpSender__rtp_timestamp",
    "_RTCRtpSender__octet_count",
    "_RTCRtpSender__packet_count",
)
_DTLS_COUNTER_ATTRS = ("_RTCDtlsTransport__tx_bytes", "_RTCDtlsTransport__tx_packets")
#: aioice ``Connection``: component -> nominated ``CandidatePair``.
_NOMINATED_ATTR = "_nominated"


class _EagerJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer, but a frame leaves as soon as it is complete.

    A video frame is complete when the packets from the buffer's origin are contiguous, share one
    timestamp and end with the marker bit; an audio packet is a frame by itself. Anything less (a gap
    waiting for retransmission) is left to aiortc's own rule, so the result is never a torn frame.
    """

    def __init__(self, kind: str) -> None:
        if kind == "video":
            super().__init__(capacity=512, is_video=True)
        else:
            super().__init__(capacity=16)
        #: Further frames completed by the same packet (a filled gap can complete several); aiortc takes
        #: one frame per packet, so the tap collects these right after it.
        self.pending: list[JitterFrame] = []

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        pli_flag, frame = super().add(packet)
        frames = [frame] if frame is not None else []
        while (complete := self._take_complete_frame()) is not None:
            frames.append(complete)
        if not frames:
            return pli_flag, None
        self.pending.extend(frames[1:])
        return pli_flag, frames[0]

    def take_pending(self) -> list[JitterFrame]:
        frames, self.pending = self.pending, []
        return frames

    def _take_complete_frame(self) -> JitterFrame | None:
        if self._origin is None:
            return None
        packets: list[RtpPacket] = []
        for count in range(self._capacity):
            candidate = self._packets[uint16_add(self._origin, count) % self._capacity]
            if candidate is None or (packets and candidate.timestamp != packets[0].timestamp):
                return None
            packets.append(candidate)
            if candidate.marker or not self._is_video:
                self.remove(len(packets))
                data = b"".join(p._data for p in packets)  # type: ignore[attr-defined]
                return JitterFrame(data=data, timestamp=packets[0].timestamp)
        return None


class _EncodedFrameTap(queue.Queue):  # type: ignore[type-arg]
    """Stand-in for the decoder queue: frames go to the callback, the stop sentinel to the idle thread."""

    def __init__(
        self,
        on_frame: FrameCallback,
        on_end: Callable[[], None],
        extra: Callable[[], list[tuple[bytes, int]]],
    ) -> None:
        super().__init__()
        self._on_frame = on_frame
        self._on_end = on_end
        self._extra = extra

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(None)
            self._on_end()
            return
        codec, encoded_frame = item
        self._on_frame(codec.mimeType, codec.clockRate, encoded_frame.data, encoded_frame.timestamp)
        for data, timestamp in self._extra():
            self._on_frame(codec.mimeType, codec.clockRate, data, timestamp)


def tap_encoded_frames(
    receiver: RTCRtpReceiver, on_frame: FrameCallback, on_end: Callable[[], None] | None = None
) -> None:
    """Deliver the receiver's encoded frames to ``on_frame`` instead of its decoder.

    Must be called after ``setRemoteDescription`` and before the connection starts the receiver, i.e.
    without awaiting anything in between. ``on_frame`` runs on the event loop (aiortc calls it from
    ``_handle_rtp_packet``); ``on_end`` when the receiver stops (RTCP BYE, close).
    """
    needed = (_QUEUE_ATTR, _STARTED_ATTR, _JITTER_ATTR, _KIND_ATTR, _MAPPER_ATTR)
    if not all(hasattr(receiver, name) for name in needed):
        raise StreamingError("this aiortc version has no decoder queue to tap (see aiortc_internals)")
    if getattr(receiver, _STARTED_ATTR):
        raise StreamingError("receiver already started; tap it before the connection starts")
    buffer = _EagerJitterBuffer(getattr(receiver, _KIND_ATTR))
    mapper = getattr(receiver, _MAPPER_ATTR)
    setattr(receiver, _JITTER_ATTR, buffer)

    def extra() -> list[tuple[bytes, int]]:
        # aiortc maps the returned frame's timestamp itself; the extra frames skipped that step.
        return [(frame.data, mapper.map(frame.timestamp)) for frame in buffer.take_pending()]

    setattr(receiver, _QUEUE_ATTR, _EncodedFrameTap(on_frame, on_end or (lambda: None), extra))


def send_picture_loss(receiver: RTCRtpReceiver) -> list[asyncio.Task[None]]:
    """Send a PLI for every SSRC the receiver heard lately; return the sending tasks (none if silent)."""
    return [
        asyncio.ensure_future(receiver._send_rtcp_pli(source.source))
        for source in receiver.getSynchronizationSources()
    ]


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever the remote viewer sends PLI or FIR to this sender."""
    # _handle_rtcp_packet calls self._send_keyframe(); an instance attribute shadows the method.
    sender._send_keyframe = callback  # type: ignore[method-assign]


class DirectSource(Protocol):
    """A track that takes a started sender's outlet and sends its frames through it (``ForwardingTrack``)."""

    @property
    def readyState(self) -> str: ...

    def attach(self, outlet: RtpOutlet) -> None: ...

    def detach(self, outlet: RtpOutlet) -> None: ...

    def on(self, event: str, f: Callable[[], None]) -> Any: ...

    def stop(self) -> None: ...


class _SrtpIcePath:
    """A sender's way out: its DTLS transport's SRTP session and the ICE pair aioice nominated.

    The same steps as ``RTCDtlsTransport._send_rtp`` -> ``Connection.sendto`` -> ``StunProtocol.send_data``
    (protect, then ``transport.sendto`` to the pair's remote address; a TURN pair's transport relays it),
    made as plain calls. The pair is looked up per frame, as aioice does per packet.
    """

    __slots__ = ("_addr", "_dtls", "_nominated", "_pair", "_protect", "_sender", "_sendto")

    def __init__(self, sender: RTCRtpSender) -> None:
        self._sender: Any = sender
        self._dtls: Any = sender.transport
        ice = getattr(self._dtls.transport, "_connection", None)
        needed = (*_DTLS_COUNTER_ATTRS, "_tx_srtp", "_state")
        if not all(hasattr(self._dtls, name) for name in needed) or not hasattr(ice, _NOMINATED_ATTR):
            raise StreamingError("this aiortc/aioice version has no SRTP session or ICE pair to send on")
        self._protect: Callable[[bytes], bytes] = self._dtls._tx_srtp.protect
        self._nominated: dict[int, Any] = getattr(ice, _NOMINATED_ATTR)
        self._pair: Any = None
        self._sendto: Callable[[bytes, tuple[str, int]], None] = lambda data, addr: None
        self._addr: tuple[str, int] = ("", 0)

    def ready(self) -> bool:
        if self._dtls._state is not DtlsState.CONNECTED or not self._sender._enabled:
            return False
        pair = self._nominated.get(1)
        if pair is None:
            return False
        if pair is not self._pair:
            self._pair, self._sendto, self._addr = pair, pair.protocol.transport.sendto, pair.remote_addr
        return True

    def write(self, packet: bytes) -> int:
        data = self._protect(packet)
        self._sendto(data, self._addr)
        return len(data)

    def sent(self, packets: int, octets: int, wire_bytes: int, timestamp: int) -> None:
        # What RTCRtpSender._run_rtp and RTCDtlsTransport._send_rtp count after every packet; the
        # sender's RTCP loop reads the first four for its sender reports.
        sender, dtls = self._sender, self._dtls
        sender._RTCRtpSender__ntp_timestamp = ntp_now()
        sender._RTCRtpSender__rtp_timestamp = timestamp
        sender._RTCRtpSender__octet_count += octets
        sender._RTCRtpSender__packet_count += packets
        dtls._RTCDtlsTransport__tx_bytes += wire_bytes
        dtls._RTCDtlsTransport__tx_packets += packets


#: Seconds from the NTP epoch (1900) to the Unix epoch (1970).
_NTP_UNIX_OFFSET = 2_208_988_800


def ntp_now() -> int:
    """``aiortc.clock.current_ntp_time()`` (64-bit NTP: seconds << 32 | fraction) from ``time.time()``.

    Called per frame and listener; aiortc's goes through ``datetime`` and costs five times as much.
    """
    return int((time.time() + _NTP_UNIX_OFFSET) * 4294967296.0)


def _extensions(sender: RTCRtpSender) -> bytes | Callable[[], bytes]:
    """The listener's header-extension block as aiortc's sender would write it (``mid``; abs-send-time if
    negotiated, which changes per frame), through the sender's own negotiated extension map."""
    ext_map: HeaderExtensionsMap = getattr(sender, _EXT_MAP_ATTR)
    mid = getattr(sender, _MID_ATTR)

    def block(abs_send_time: int | None = None) -> bytes:
        return extension_block(*ext_map.set(HeaderExtensions(mid=mid, abs_send_time=abs_send_time)))

    fixed = block()
    if block(0) == fixed:  # no abs-send-time id negotiated
        return fixed
    return lambda: block((ntp_now() >> 14) & 0x00FFFFFF)


def send_rtp_directly(sender: RTCRtpSender, source: DirectSource) -> None:
    """Before the sender starts: when it does, hand ``source`` an ``RtpOutlet`` instead of reading it.

    The sender's ``send()`` starts ``self._run_rtp(codec)``; an instance attribute shadows the method, so
    the sender runs this stand-in: it gives the source its outlet (own SSRC, random first sequence number
    and timestamp origin as aiortc picks them, the negotiated payload type and extensions), then idles until
    the source ends or ``stop()`` cancels it, and leaves as aiortc's loop does (track stopped and dropped,
    ``__rtp_exited`` set, which ``stop()`` waits for). RTCP (reports, BYE, PLI) stays aiortc's.
    """
    needed = (_RTP_STARTED_ATTR, _RTP_EXITED_ATTR, _EXT_MAP_ATTR, _MID_ATTR, _TRACK_ATTR, *_COUNTER_ATTRS)
    if not all(hasattr(sender, name) for name in needed) or not hasattr(sender, "_run_rtp"):
        raise StreamingError("this aiortc version has no sender RTP loop to replace (see aiortc_internals)")

    async def run_rtp(codec: RTCRtpCodecParameters) -> None:
        getattr(sender, _RTP_STARTED_ATTR).set()
        outlet: RtpOutlet | None = None
        try:
            if source.readyState == "live":
                ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

                def on_ended() -> None:
                    if not ended.done():
                        ended.set_result(None)

                source.on("ended", on_ended)
                if codec.payloadType is None:
                    raise StreamingError(f"negotiated codec {codec.mimeType} has no payload type")
                outlet = RtpOutlet(
                    _SrtpIcePath(sender),
                    ssrc=sender._ssrc,
                    payload_type=codec.payloadType,
                    extensions=_extensions(sender),
                    sequence_start=random_sequence_number(),
                    timestamp_origin=random32(),
                )
                source.attach(outlet)
                await ended
        except asyncio.CancelledError:
            pass
        except Exception:
            # aiortc's loop logs and exits too: __rtp_exited must be set or stop() waits forever.
            logger.warning("direct RTP sender failed", exc_info=True)
        if outlet is not None:
            source.detach(outlet)
        source.stop()
        setattr(sender, _TRACK_ATTR, None)
        getattr(sender, _RTP_EXITED_ATTR).set()

    sender._run_rtp = run_rtp  # type: ignore[method-assign]


def answer_as_dtls_server(pc: RTCPeerConnection) -> None:
    """After ``setRemoteDescription(offer)`` and before ``createAnswer``: answer ``a=setup:passive``.

    Only where the offer left the choice to us (``actpass``); a peer that insists on a role keeps it.
    """
    transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    for transport in transports:
        if transport is not None and getattr(transport, "_role", None) == "auto":
            transport._set_role("server")
