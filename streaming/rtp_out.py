"""One listener's outgoing RTP stream, written straight from the relay's fan-out: no sender task per packet.

aiortc's ``RTCRtpSender`` runs one coroutine per listener that wakes for every packet, asks its track for the
frame, builds an ``RtpPacket`` object with header extensions, serialises it and awaits three layers of
``send``: at 50 push-to-talk listeners that per-packet, per-listener work was most of the relay's CPU (see
benchmarks/RESULTS.md, issue 17). An ``RtpOutlet`` does the same job as a plain call made by the relay's
single pass over a stream's listeners: pack a 12-byte header (the listener's own SSRC, sequence number and
timestamp offset) and the header extensions the listener negotiated (prepared once) in front of the shared
payload, and hand it to the listener's ``RtpPath`` (SRTP protect + ICE ``sendto``). The payloads come from
the relay, packetized once for every listener.

What aiortc's sender keeps doing (its RTCP sender reports, answering RTCP, stop, BYE) needs the counters of
what was sent; the path feeds them after every frame (``RtpPath.sent``).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Protocol

#: RTP fixed header (RFC 3550 5.1): V/P/X/CC, M/PT, sequence number, timestamp, SSRC.
_HEADER = struct.Struct("!BBHLL")
_VERSION_2 = 0x80
_EXTENSION_BIT = 0x10
_MARKER = 0x80


class RtpPath(Protocol):
    """Where one listener's packets go: its SRTP session and ICE pair, and its sender's counters."""

    def ready(self) -> bool:
        """Whether packets can be sent now (the connection is up)."""

    def write(self, packet: bytes) -> int:
        """Protect and send one RTP packet; return the bytes put on the wire."""

    def sent(self, packets: int, octets: int, wire_bytes: int, timestamp: int) -> None:
        """Account one frame's packets (payload ``octets``, last RTP ``timestamp``) for RTCP and stats."""


def extension_block(profile: int, value: bytes) -> bytes:
    """The header-extension block (RFC 8285) that follows the fixed header: profile, length, elements.

    ``value`` is already padded to a multiple of four bytes; empty means no extension at all.
    """
    if not value:
        return b""
    if len(value) % 4:
        raise ValueError(f"header extension value must be padded to 4 bytes, got {len(value)}")
    return struct.pack("!HH", profile, len(value) // 4) + value


class RtpOutlet:
    """Serialise one listener's packets around shared payloads and write them to its ``RtpPath``.

    ``extensions`` is the listener's extension block for a fixed set of values (``mid``), or a callable
    giving it per frame (when a per-packet value such as abs-send-time was negotiated). Sequence numbers
    continue across frames; the RTP timestamp is ``timestamp_origin`` plus the frame's (modulo 2**32).
    The marker bit is set on a frame's last packet, as aiortc's sender does.
    """

    __slots__ = ("_extensions", "_first_byte", "_origin", "_path", "_payload_type", "_sequence", "ssrc")

    def __init__(
        self,
        path: RtpPath,
        *,
        ssrc: int,
        payload_type: int,
        extensions: bytes | Callable[[], bytes],
        sequence_start: int,
        timestamp_origin: int,
    ) -> None:
        if not 0 <= payload_type < 128:
            raise ValueError(f"RTP payload type must be 0-127, got {payload_type}")
        if not 0 <= ssrc < 2**32:
            raise ValueError(f"SSRC must fit in 32 bits, got {ssrc}")
        self._path = path
        self.ssrc = ssrc
        self._payload_type = payload_type
        self._extensions = extensions
        has_extension = callable(extensions) or bool(extensions)
        self._first_byte = _VERSION_2 | (_EXTENSION_BIT if has_extension else 0)
        self._sequence = sequence_start & 0xFFFF
        self._origin = timestamp_origin & 0xFFFFFFFF

    @property
    def next_sequence(self) -> int:
        return self._sequence

    def send(self, payloads: list[bytes], timestamp: int) -> bool:
        """Send one frame's payloads; False (nothing sent) if the path is not ready."""
        path = self._path
        if not path.ready():
            return False
        extensions = self._extensions
        block = extensions() if callable(extensions) else extensions
        rtp_timestamp = (self._origin + timestamp) & 0xFFFFFFFF
        sequence = self._sequence
        first, payload_type, ssrc = self._first_byte, self._payload_type, self.ssrc
        last = len(payloads) - 1
        octets = wire = 0
        for index, payload in enumerate(payloads):
            marked = payload_type | _MARKER if index == last else payload_type
            header = _HEADER.pack(first, marked, sequence, rtp_timestamp, ssrc)
            wire += path.write(header + block + payload)
            octets += len(payload)
            sequence = (sequence + 1) & 0xFFFF
        self._sequence = sequence
        path.sent(len(payloads), octets, wire, rtp_timestamp)
        return True
