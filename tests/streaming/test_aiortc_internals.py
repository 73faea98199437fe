"""Pin the aiortc internals the relay relies on (see streaming/aiortc_internals.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, clock
from aiortc.rtp import RTCP_PSFB_PLI, RtcpPsfbPacket, RtpPacket
from streaming_helpers import Viewer, relay_signal

from streaming import Publisher, Relay, StreamingError, SyntheticVideoTrack, ice_configuration
from streaming.aiortc_internals import (
    _EagerJitterBuffer,
    _extensions,
    ntp_now,
    on_keyframe_request,
    send_picture_loss,
    send_rtp_directly,
    tap_encoded_frames,
)
from streaming.track import ForwardingTrack


async def _connected_pair() -> tuple[RTCPeerConnection, RTCPeerConnection, list[tuple[str, int, bytes, int]]]:
    sender_pc, receiver_pc = RTCPeerConnection(ice_configuration()), RTCPeerConnection(ice_configuration())
    sender_pc.addTrack(SyntheticVideoTrack(320, 240))
    frames: list[tuple[str, int, bytes, int]] = []
    await sender_pc.setLocalDescription(await sender_pc.createOffer())
    await receiver_pc.setRemoteDescription(sender_pc.localDescription)
    receiver = receiver_pc.getTransceivers()[0].receiver
    tap_encoded_frames(receiver, lambda *frame: frames.append(frame))
    await receiver_pc.setLocalDescription(await receiver_pc.createAnswer())
    await sender_pc.setRemoteDescription(receiver_pc.localDescription)
    return sender_pc, receiver_pc, frames


async def test_tap_gets_encoded_frames_and_the_decoder_gets_none():
    sender_pc, receiver_pc, frames = await _connected_pair()
    try:
        for _ in range(100):
            if len(frames) >= 10:
                break
            await asyncio.sleep(0.05)
        mime, rate, data, _ts = frames[0]
        assert (mime, rate) == ("video/VP8", 90000)
        assert data[0] & 1 == 0, "the first frame is a VP8 keyframe"
        assert [f[3] for f in frames] == sorted(f[3] for f in frames)
        receiver = receiver_pc.getTransceivers()[0].receiver
        assert receiver.track._queue.qsize() == 0, "nothing was decoded"
    finally:
        await asyncio.gather(sender_pc.close(), receiver_pc.close())


async def test_picture_loss_reaches_the_senders_hook():
    sender_pc, receiver_pc, frames = await _connected_pair()
    requests = []
    try:
        on_keyframe_request(sender_pc.getTransceivers()[0].sender, lambda: requests.append(1))
        receiver = receiver_pc.getTransceivers()[0].receiver
        for _ in range(100):
            if frames:
                break
            await asyncio.sleep(0.05)
        await asyncio.gather(*send_picture_loss(receiver))
        for _ in range(40):
            if requests:
                break
            await asyncio.sleep(0.05)
        assert requests
    finally:
        await asyncio.gather(sender_pc.close(), receiver_pc.close())


async def test_hook_is_what_aiortc_calls_on_pli():
    pc = RTCPeerConnection(ice_configuration())
    sender = pc.addTransceiver("video").sender
    calls = []
    on_keyframe_request(sender, lambda: calls.append(1))
    await sender._handle_rtcp_packet(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=sender._ssrc))
    assert calls == [1]
    assert isinstance(sender, RTCRtpSender)
    await pc.close()


async def test_tapping_a_started_receiver_is_refused():
    pc = RTCPeerConnection(ice_configuration())
    receiver = pc.addTransceiver("video").receiver
    assert isinstance(receiver, RTCRtpReceiver)
    receiver._RTCRtpReceiver__started = True
    with pytest.raises(StreamingError, match="already started"):
        tap_encoded_frames(receiver, lambda *frame: None)
    receiver._RTCRtpReceiver__started = False
    await pc.close()


def _rtp(seq: int, ts: int, payload: bytes, marker: bool) -> RtpPacket:
    packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=ts, marker=int(marker))
    packet._data = payload
    return packet


def test_eager_jitter_buffer_releases_a_frame_on_its_marker_packet():
    buffer = _EagerJitterBuffer("video")
    assert buffer.add(_rtp(100, 3000, b"a", False)) == (False, None)
    assert buffer.add(_rtp(101, 3000, b"b", False)) == (False, None)
    _, frame = buffer.add(_rtp(102, 3000, b"c", True))
    assert (frame.data, frame.timestamp) == (b"abc", 3000), "no wait for the next frame's first packet"
    # Reordered: the marker comes before the middle packet; the frame leaves once it is whole.
    assert buffer.add(_rtp(103, 6000, b"d", False))[1] is None
    assert buffer.add(_rtp(105, 6000, b"f", True))[1] is None
    assert buffer.add(_rtp(104, 6000, b"e", False))[1].data == b"def"
    # Lost packet: never a torn frame; once the gap is filled, every frame it held back leaves at once.
    assert buffer.add(_rtp(106, 9000, b"g", False))[1] is None
    assert buffer.add(_rtp(108, 9000, b"i", True))[1] is None
    assert buffer.add(_rtp(109, 12000, b"j", True))[1] is None
    assert buffer.add(_rtp(107, 9000, b"h", False))[1].data == b"ghi"
    assert [f.data for f in buffer.take_pending()] == [b"j"]
    assert buffer.add(_rtp(110, 15000, b"k", True))[1].data == b"k", "no lag left behind"


def test_eager_jitter_buffer_passes_audio_packets_straight_through():
    buffer = _EagerJitterBuffer("audio")
    assert buffer.add(_rtp(7, 960, b"x", False))[1].data == b"x", "aiortc would hold four packets"
    assert buffer.add(_rtp(9, 2880, b"z", False))[1] is None
    assert buffer.add(_rtp(8, 1920, b"y", False))[1].data == b"y"
    assert [f.data for f in buffer.take_pending()] == [b"z"]


async def test_the_relay_answers_as_dtls_server(relay: Relay) -> None:
    """a=setup:passive: the peer speaks first, so one that has not read the answer yet loses nothing."""
    answers: list[str] = []
    signal = relay_signal(relay)

    async def capture(offer: dict) -> dict:  # type: ignore[type-arg]
        answer = await signal(offer)
        answers.append(answer["sdp"])
        return answer

    publisher = Publisher(capture, lambda: [SyntheticVideoTrack()])
    try:
        stream_id = await publisher.connect()
        assert "a=setup:passive" in answers[0] and "a=setup:active" not in answers[0]
        viewer = Viewer()
        try:
            await viewer.watch(relay, stream_id)
            assert "a=setup:passive" in viewer.pc.remoteDescription.sdp
            await viewer.wait_frames(3, timeout=15)
        finally:
            await viewer.close()
    finally:
        await publisher.close()


def test_opus_frames_are_packed_as_aiortc_would_pack_them() -> None:
    """The direct path's payloads and timestamp are what aiortc's Opus encoder makes of the frame's packet."""
    from aiortc.codecs.opus import OpusEncoder

    from streaming.frames import EncodedFrame

    frame = EncodedFrame("audio", "audio/opus", 48000, b"\xfc\xff\xfe", 4_294_000_000, True)
    assert frame.opus_payloads() == OpusEncoder().pack(frame.packet)
    assert frame.opus_payloads() is frame.opus_payloads(), "packed once for every viewer"


def test_direct_sending_needs_aiortc_1_16_sender_internals() -> None:
    class NotASender:
        _run_rtp = None

    with pytest.raises(StreamingError, match="no sender RTP loop to replace"):
        send_rtp_directly(NotASender(), ForwardingTrack("audio"))  # type: ignore[arg-type]


async def test_direct_path_extensions_are_the_senders_negotiated_ones() -> None:
    """mid alone: one fixed block; with abs-send-time: a block made per frame carrying the send time."""
    from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
    from aiortc.rtp import HeaderExtensionsMap

    mid = RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid")
    abs_send_time = RTCRtpHeaderExtensionParameters(
        id=3, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
    )
    pc = RTCPeerConnection(ice_configuration())
    try:
        sender: Any = pc.addTransceiver("audio", direction="sendonly").sender
        sender._RTCRtpSender__mid = "0"
        ext_map = sender._RTCRtpSender__rtp_header_extensions_map
        ext_map.configure(RTCRtpParameters(headerExtensions=[mid]))
        fixed = _extensions(sender)
        assert fixed == b"\xbe\xde\x00\x01\x10\x30\x00\x00"
        ext_map.configure(RTCRtpParameters(headerExtensions=[mid, abs_send_time]))
        per_frame = _extensions(sender)
        assert callable(per_frame)
        parsing = HeaderExtensionsMap()
        parsing.configure(RTCRtpParameters(headerExtensions=[mid, abs_send_time]))
        block = per_frame()
        values = parsing.get(0xBEDE, block[4:])
        assert values.mid == "0"
        assert abs((values.abs_send_time or 0) - ((clock.current_ntp_time() >> 14) & 0xFFFFFF)) < 2**18 // 10
    finally:
        await pc.close()


def test_ntp_now_is_aiortcs_ntp_clock() -> None:
    assert abs(ntp_now() - clock.current_ntp_time()) < 2**32 // 100  # 10 ms apart at most


def test_the_direct_path_names_missing_transport_internals() -> None:
    from types import SimpleNamespace

    from streaming.aiortc_internals import _SrtpIcePath

    sender = SimpleNamespace(transport=SimpleNamespace(transport=SimpleNamespace()))
    with pytest.raises(StreamingError, match="no SRTP session or ICE pair to send on"):
        _SrtpIcePath(sender)  # type: ignore[arg-type]
