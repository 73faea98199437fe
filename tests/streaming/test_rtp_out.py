"""The direct RTP path's packets, byte for byte, without a network (streaming/rtp_out.py)."""

from __future__ import annotations

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket

from streaming.rtp_out import RtpOutlet, extension_block

MID_ID = 1


class _Path:
    """A faithful stand-in for an SRTP/ICE path: keeps what would be protected and sent, and the counters."""

    def __init__(self) -> None:
        self.up = True
        self.packets: list[bytes] = []
        self.counted: list[tuple[int, int, int, int]] = []

    def ready(self) -> bool:
        return self.up

    def write(self, packet: bytes) -> int:
        self.packets.append(packet)
        return len(packet) + 10  # an SRTP auth tag

    def sent(self, packets: int, octets: int, wire_bytes: int, timestamp: int) -> None:
        self.counted.append((packets, octets, wire_bytes, timestamp))


def _mid_map() -> HeaderExtensionsMap:
    ext_map = HeaderExtensionsMap()
    ext_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=MID_ID, uri="urn:ietf:params:rtp-hdrext:sdes:mid")
            ]
        )
    )
    return ext_map


def _outlet(path: _Path, *, sequence_start: int = 100, timestamp_origin: int = 5000) -> RtpOutlet:
    block = extension_block(*_mid_map().set(HeaderExtensions(mid="0")))
    return RtpOutlet(
        path,
        ssrc=0xDEADBEEF,
        payload_type=111,
        extensions=block,
        sequence_start=sequence_start,
        timestamp_origin=timestamp_origin,
    )


def _parse(data: bytes) -> RtpPacket:
    packet = RtpPacket.parse(data, _mid_map())
    return packet


def test_packets_parse_as_aiortc_would_serialise_them() -> None:
    path = _Path()
    outlet = _outlet(path)
    assert outlet.send([b"\xfc\x01"], 960)
    mine = path.packets[0]
    theirs = RtpPacket(payload_type=111, marker=1, sequence_number=100, timestamp=5960, ssrc=0xDEADBEEF)
    theirs.payload = b"\xfc\x01"
    theirs.extensions.mid = "0"
    assert mine == theirs.serialize(_mid_map()), "the same bytes aiortc's sender writes"
    packet = _parse(mine)
    assert (packet.ssrc, packet.sequence_number, packet.timestamp, packet.payload_type) == (
        0xDEADBEEF,
        100,
        5960,
        111,
    )
    assert packet.extensions.mid == "0" and packet.marker == 1 and packet.payload == b"\xfc\x01"
    assert path.counted == [(1, 2, len(mine) + 10, 5960)]


def test_sequence_numbers_and_timestamps_wrap() -> None:
    path = _Path()
    outlet = _outlet(path, sequence_start=65534, timestamp_origin=2**32 - 960)
    for step in range(3):
        outlet.send([b"x"], step * 960)
    packets = [_parse(p) for p in path.packets]
    assert [p.sequence_number for p in packets] == [65534, 65535, 0]
    assert [p.timestamp for p in packets] == [2**32 - 960, 0, 960]
    assert outlet.next_sequence == 1


def test_a_frame_of_several_payloads_is_marked_on_its_last_packet() -> None:
    path = _Path()
    outlet = _outlet(path)
    outlet.send([b"a", b"bb", b"ccc"], 3000)
    packets = [_parse(p) for p in path.packets]
    assert [p.marker for p in packets] == [0, 0, 1]
    assert [p.sequence_number for p in packets] == [100, 101, 102]
    assert {p.timestamp for p in packets} == {8000}
    assert path.counted == [(3, 6, sum(len(p) + 10 for p in path.packets), 8000)]


def test_no_extensions_means_no_extension_bit() -> None:
    path = _Path()
    RtpOutlet(path, ssrc=1, payload_type=0, extensions=b"", sequence_start=0, timestamp_origin=0).send(
        [b"x"], 0
    )
    assert path.packets[0][0] == 0x80 and len(path.packets[0]) == 13


def test_per_frame_extensions_are_asked_for_each_frame() -> None:
    path = _Path()
    blocks = iter(
        [extension_block(0xBEDE, b"\x10\x30\x00\x00"), extension_block(0xBEDE, b"\x10\x31\x00\x00")]
    )
    outlet = RtpOutlet(
        path, ssrc=1, payload_type=0, extensions=lambda: next(blocks), sequence_start=0, timestamp_origin=0
    )
    outlet.send([b"x"], 0)
    outlet.send([b"y"], 960)
    assert [_parse(p).extensions.mid for p in path.packets] == ["0", "1"]


def test_nothing_is_sent_while_the_path_is_down() -> None:
    path = _Path()
    path.up = False
    outlet = _outlet(path)
    assert outlet.send([b"x"], 0) is False
    assert path.packets == [] and path.counted == [] and outlet.next_sequence == 100


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="payload type must be 0-127, got 128"):
        RtpOutlet(_Path(), ssrc=1, payload_type=128, extensions=b"", sequence_start=0, timestamp_origin=0)
    with pytest.raises(ValueError, match="SSRC must fit in 32 bits"):
        RtpOutlet(_Path(), ssrc=2**32, payload_type=0, extensions=b"", sequence_start=0, timestamp_origin=0)
    with pytest.raises(ValueError, match="padded to 4 bytes, got 3"):
        extension_block(0xBEDE, b"\x10\x30\x00")
    assert extension_block(0xBEDE, b"") == b""
