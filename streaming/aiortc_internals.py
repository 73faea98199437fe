"""Every reliance on aiortc internals (checked against aiortc 1.16), in one place so an upgrade breaks here.

aiortc has no public way to receive encoded frames without decoding them (aiortc#136, #449, #1176 were
closed without one), and ``RTCRtpSender`` answers a viewer's PLI by setting a flag that only its own
encoder reads, so with pre-encoded ``av.Packet`` input the request is silently dropped. Three small hooks:

* ``tap_encoded_frames``: swap the receiver's decoder input queue for one that hands each reassembled
  ``(codec, JitterFrame)`` to a callback on the event loop. The decoder thread still starts but only ever
  sees the stop sentinel, so nothing is decoded and nothing accumulates (aiortc's own queue is unbounded).
  It also swaps in ``_EagerJitterBuffer``: aiortc's video buffer releases a frame only when the first
  packet of the *next* frame arrives (one frame interval, 33 ms at 30 fps, per relay hop) and its audio
  buffer holds four packets (80 ms); ours releases a video frame as soon as the packet carrying the RTP
  marker bit completes it, and an audio packet (one Opus frame) as soon as it is in order.
* ``send_picture_loss``: ask the publisher for a keyframe with the receiver's own RTCP PLI.
* ``on_keyframe_request``: route a viewer's PLI/FIR arriving at a sender to a callback.
* ``forward_opus_as_is``: give an audio viewer's sender a packetizer that takes the relay's
  ``EncodedFrame`` as it is. aiortc's Opus "encoder" only packetizes pre-encoded input, one payload per
  frame, yet per packet and viewer it copies the bytes and converts the timestamp with ``Fraction``
  arithmetic (equal to the RTP timestamp, Opus's RTP clock being 48 kHz): a tenth of the relay's work per
  listener in the push-to-talk benchmark's profile.
* ``answer_as_dtls_server``: answer ``a=setup:passive`` so the peer starts the DTLS handshake. As the
  answerer aiortc otherwise takes the client role and may send its ClientHello before the peer has even
  read the answer (it is still in the WHIP response); browsers buffer it, GStreamer's webrtcbin does not
  and its handshake fails. With the relay as server, the first DTLS packet always comes from the peer.

``tests/streaming/test_aiortc_internals.py`` pins these assumptions.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

from streaming.errors import StreamingError
from streaming.frames import EncodedFrame

#: ``(mime_type, clock_rate, data, rtp_timestamp)`` for one complete encoded frame.
FrameCallback = Callable[[str, int, bytes, int], None]

_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_STARTED_ATTR = "_RTCRtpReceiver__started"
_JITTER_ATTR = "_RTCRtpReceiver__jitter_buffer"
_KIND_ATTR = "_RTCRtpReceiver__kind"
_MAPPER_ATTR = "_RTCRtpReceiver__timestamp_mapper"
_ENCODER_ATTR = "_RTCRtpSender__encoder"


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


class _OpusAsIs:
    """Stands in for a sender's Opus encoder: the frame is the payload, its timestamp the RTP timestamp."""

    def pack(self, frame: EncodedFrame) -> tuple[list[bytes], int]:
        return frame.opus_payloads()


def forward_opus_as_is(sender: RTCRtpSender) -> None:
    """Before the sender starts: pack the ``EncodedFrame``s of a ``ForwardingTrack(frames=True)`` as they are.

    aiortc makes its encoder on the first frame only if none is set, and hands anything that is not an
    ``av.Frame`` to the encoder's ``pack``.
    """
    if not hasattr(sender, _ENCODER_ATTR):
        raise StreamingError("this aiortc version has no sender encoder to replace (see aiortc_internals)")
    setattr(sender, _ENCODER_ATTR, _OpusAsIs())


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
