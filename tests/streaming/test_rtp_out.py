"""The direct RTP path without a network: its packets byte for byte (streaming/rtp_out.py), and a direct-mode
``ForwardingTrack`` handing frames to it."""

from __future__ import annotations

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap, RtpPacket

from streaming.frames import EncodedFrame
from streaming.rtp_out import RtpOutlet, extension_block
from streaming.track import ForwardingTrack

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


# -- a direct-mode ForwardingTrack hands its frames to the outlet -------------------------------------------


def _frame(n: int, *, kind: str = "audio", keyframe: bool = True) -> EncodedFrame:
    if kind == "audio":
        return EncodedFrame("audio", "audio/opus", 48000, bytes([n]), n * 960, True)
    return EncodedFrame("video", "video/VP8", 90000, bytes([0 if keyframe else 1, n]), n * 3000, keyframe)


def _video_payloads(frame: EncodedFrame) -> tuple[list[bytes], int]:
    return [frame.data], frame.timestamp


async def test_a_direct_track_sends_from_its_start_on_and_not_after_it_stops() -> None:
    path = _Path()
    track = ForwardingTrack("audio", packetize=EncodedFrame.opus_payloads)
    track.offer(_frame(0))  # before the sender started: nobody to send to
    track.attach(_outlet(path))
    track.offer(_frame(1))
    track.offer(_frame(2))
    assert [_parse(p).payload for p in path.packets] == [b"\x01", b"\x02"]
    assert track.frames_sent == 2 and track.queue_size == 0
    track.stop()
    track.offer(_frame(3))
    assert len(path.packets) == 2


async def test_a_direct_video_track_starts_with_the_cached_gop_then_waits_for_keyframes() -> None:
    path = _Path()
    gop = [_frame(1, kind="video"), _frame(2, kind="video", keyframe=False)]
    track = ForwardingTrack("video", packetize=_video_payloads, start_frames=lambda: list(gop))
    track.attach(_outlet(path))
    track.offer(_frame(3, kind="video", keyframe=False))
    track.need_keyframe()
    track.offer(_frame(4, kind="video", keyframe=False))  # dropped: waiting for a keyframe
    track.offer(_frame(5, kind="video"))
    assert [_parse(p).payload[1] for p in path.packets] == [1, 2, 3, 5]
    assert track.gop_frames == 2 and track.frames_dropped == 1


async def test_a_failing_outlet_stops_only_its_own_track() -> None:
    class Broken(_Path):
        def write(self, packet: bytes) -> int:
            raise OSError("no route")

    good_path = _Path()
    broken = ForwardingTrack("audio", packetize=EncodedFrame.opus_payloads)
    good = ForwardingTrack("audio", packetize=EncodedFrame.opus_payloads)
    broken.attach(_outlet(Broken()))
    good.attach(_outlet(good_path))
    for track in (broken, good):
        track.offer(_frame(1))
    assert broken.readyState == "ended" and good.readyState == "live"
    assert len(good_path.packets) == 1


async def test_attach_needs_direct_mode_and_a_fresh_track() -> None:
    with pytest.raises(ValueError, match="needs a track made with packetize="):
        ForwardingTrack("audio").attach(_outlet(_Path()))
    track = ForwardingTrack("audio", packetize=EncodedFrame.opus_payloads)
    track.attach(_outlet(_Path()))
    with pytest.raises(ValueError, match="already started; one sender per track"):
        track.attach(_outlet(_Path()))
