"""Encoded media frames as the relay moves them: bytes plus timing, never decoded pixels.

One ``EncodedFrame`` is made per frame received from a publisher; the ``av.Packet`` inside it is shared by
every viewer's ``RTCRtpSender``, which only reads it (``bytes(packet)``, ``pts``, ``time_base``) to packetize.
"""

from __future__ import annotations

import fractions
import time
from dataclasses import dataclass, field
from typing import Any

import av

#: Codecs the relay forwards; anything else is refused at negotiation because it would need transcoding.
FORWARDABLE = ("video/VP8", "video/H264", "audio/opus")
#: RFC 7587: Opus over RTP always uses a 48 kHz timestamp clock.
OPUS_CLOCK_RATE = 48000


def is_keyframe(mime_type: str, data: bytes) -> bool:
    """Tell whether an encoded frame can start decoding on its own.

    VP8 (RFC 6386 9.1): bit 0 of the first byte is 0 for a key frame. H.264 in Annex B form: the access
    unit holds an IDR slice (NAL type 5) or a sequence parameter set (7), which browsers send together.
    Audio frames are all independent.
    """
    mime = mime_type.lower()
    if mime == "video/vp8":
        return bool(data) and (data[0] & 0x01) == 0
    if mime == "video/h264":
        return any(nal in (5, 7) for nal in _h264_nal_types(data))
    return True


def _h264_nal_types(data: bytes) -> list[int]:
    types = []
    start = data.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(data):
        types.append(data[start + 3] & 0x1F)
        start = data.find(b"\x00\x00\x01", start + 3)
    return types


@dataclass(slots=True)
class EncodedFrame:
    """One complete encoded frame, with the RTP timestamp already made continuous across reconnections."""

    kind: str
    mime_type: str
    clock_rate: int
    data: bytes
    timestamp: int
    keyframe: bool
    received_at: float = field(default_factory=time.time)
    _packet: av.Packet[Any] | None = None
    _opus: tuple[list[bytes], int] | None = None

    @property
    def packet(self) -> av.Packet[Any]:
        """The ``av.Packet`` handed to ``RTCRtpSender``: its encoder then only packetizes (no re-encode)."""
        if self._packet is None:
            packet = av.Packet(self.data)
            packet.pts = self.timestamp
            packet.time_base = fractions.Fraction(1, self.clock_rate)
            self._packet = packet
        return self._packet

    def opus_payloads(self) -> tuple[list[bytes], int]:
        """What aiortc's Opus packetizer makes of ``packet`` (one payload, the timestamp at 48 kHz), once
        for every viewer."""
        if self._opus is None:
            if self.clock_rate != OPUS_CLOCK_RATE:
                raise ValueError(f"an Opus frame's RTP clock is {OPUS_CLOCK_RATE} Hz, not {self.clock_rate}")
            self._opus = ([self.data], self.timestamp)
        return self._opus
