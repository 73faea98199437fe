"""PS over RTP in: a UDP port or a TCP-passive listener (RFC 4571 framing) per play, with the facts a
diagnosis needs (did anything arrive, from where, with which SSRC and payload type).

Payloads with the expected SSRC go to ``on_payload`` in sequence order: UDP packets are reordered within a
small window (a gap that does not fill is skipped: the PS demuxer resynchronises on the next pack
header). Packets with another SSRC are counted and reported through ``on_stray`` (the gateway uses that
to tell "RTP for this play arrived at another play's port"), and dropped when ``check_ssrc`` is on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

REORDER_WINDOW = 32


@dataclass(slots=True)
class RtpPacket:
    ssrc: int
    sequence: int
    timestamp: int
    payload_type: int
    marker: bool
    payload: bytes


def parse_rtp(data: bytes) -> RtpPacket | None:
    """Parse an RTP packet (RFC 3550); ``None`` for anything that is not version 2 or is truncated."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    csrc = data[0] & 0x0F
    offset = 12 + 4 * csrc
    if data[0] & 0x10:  # header extension
        if len(data) < offset + 4:
            return None
        offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
    end = len(data)
    if data[0] & 0x20 and end > offset:  # padding
        end -= data[-1]
    if end < offset:
        return None
    sequence, timestamp, ssrc = struct.unpack_from("!HII", data, 2)
    return RtpPacket(ssrc, sequence, timestamp, data[1] & 0x7F, bool(data[1] & 0x80), data[offset:end])


@dataclass(slots=True)
class MediaStats:
    packets: int = 0
    bytes: int = 0
    first_at: float | None = None
    last_at: float | None = None
    sources: set[tuple[str, int]] = field(default_factory=set)
    ssrcs: dict[int, int] = field(default_factory=dict)
    payload_types: set[int] = field(default_factory=set)
    wrong_ssrc: int = 0
    accepted: int = 0
    connections: int = 0
    malformed: int = 0


class RtpReceiver:
    """One play's media port. ``start()`` binds (raises ``OSError`` if the port is taken)."""

    def __init__(
        self,
        *,
        tcp: bool,
        host: str,
        port: int,
        expected_ssrc: int,
        on_payload: Callable[[bytes], None],
        check_ssrc: bool = True,
        on_stray: Callable[[int, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tcp = tcp
        self.host = host
        self.port = port
        self.expected_ssrc = expected_ssrc
        self.check_ssrc = check_ssrc
        self.stats = MediaStats()
        self._on_payload = on_payload
        self._on_stray = on_stray
        self._clock = clock
        self._next_seq: int | None = None
        self._held: dict[int, bytes] = {}
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.arrived = asyncio.Event()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.tcp:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        else:
            receiver = self

            class _Protocol(asyncio.DatagramProtocol):
                def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                    receiver.packet(data, (addr[0], addr[1]))

            transport, _ = await loop.create_datagram_endpoint(_Protocol, local_addr=(self.host, self.port))
            self._udp = transport

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        addr = writer.get_extra_info("peername")
        self._writers.add(writer)
        self.stats.connections += 1
        self.stats.sources.add((addr[0], addr[1]))
        self.arrived.set()
        try:
            while True:
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                self.packet(await reader.readexactly(size), (addr[0], addr[1]))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def packet(self, data: bytes, addr: tuple[str, int]) -> None:
        stats = self.stats
        packet = parse_rtp(data)
        stats.sources.add(addr)
        if packet is None:
            stats.malformed += 1
            return
        stats.packets += 1
        stats.bytes += len(data)
        stats.last_at = self._clock()
        if stats.first_at is None:
            stats.first_at = stats.last_at
        self.arrived.set()
        stats.ssrcs[packet.ssrc] = stats.ssrcs.get(packet.ssrc, 0) + 1
        stats.payload_types.add(packet.payload_type)
        if packet.ssrc != self.expected_ssrc:
            stats.wrong_ssrc += 1
            if self._on_stray is not None:
                self._on_stray(packet.ssrc, self.port)
            if self.check_ssrc:
                return
        stats.accepted += 1
        if self.tcp:
            self._on_payload(packet.payload)  # TCP is in order already
        else:
            self._reorder(packet.sequence, packet.payload)

    def _reorder(self, sequence: int, payload: bytes) -> None:
        if self._next_seq is None:
            self._next_seq = sequence
        ahead = (sequence - self._next_seq) & 0xFFFF
        if ahead >= 0x8000:
            return  # late or duplicate
        self._held[sequence] = payload
        if len(self._held) > REORDER_WINDOW and self._next_seq not in self._held:
            self._next_seq = min(self._held, key=lambda s: (s - self._next_seq) & 0xFFFF)  # type: ignore[operator]
        while self._next_seq in self._held:
            self._on_payload(self._held.pop(self._next_seq))
            self._next_seq = (self._next_seq + 1) & 0xFFFF


class PortRange:
    """Hand out media ports from ``[first, last]`` round-robin, skipping ones in use or not bindable."""

    def __init__(self, first: int, last: int) -> None:
        if not 0 < first <= last < 65536:
            raise ValueError(f"bad RTP port range {first}-{last}")
        self.first, self.last = first, last
        self._next = first
        self.in_use: set[int] = set()

    async def open(self, make: Callable[[int], RtpReceiver]) -> RtpReceiver:
        """Bind a receiver on the next free port; raises ``OSError`` when the whole range is busy."""
        size = self.last - self.first + 1
        for _ in range(size):
            port, self._next = self._next, self._next + 1 if self._next < self.last else self.first
            if port in self.in_use:
                continue
            receiver = make(port)
            try:
                await receiver.start()
            except OSError:
                continue
            self.in_use.add(port)
            return receiver
        raise OSError(f"every RTP port in {self.first}-{self.last} is busy; widen CC_SIP_RTP_PORT_MIN/MAX")

    def release(self, receiver: RtpReceiver) -> None:
        receiver.close()
        with contextlib.suppress(KeyError):
            self.in_use.remove(receiver.port)
