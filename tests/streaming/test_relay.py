"""Publish -> relay -> viewers over real aiortc peers on loopback."""

from __future__ import annotations

import asyncio

import pytest
from streaming_helpers import relay_signal

from streaming import CodecMismatch, Publisher, Relay, SyntheticVideoTrack


async def test_several_viewers_receive_decodable_stamped_frames(relay: Relay, publisher: Publisher, viewers):
    watching = [viewers() for _ in range(3)]
    await asyncio.gather(*(v.watch(relay, publisher.stream_id) for v in watching))
    await asyncio.gather(*(v.wait_frames(20) for v in watching))
    for viewer in watching:
        assert viewer.sizes == {(640, 480)}
        assert viewer.stamps, "frames must carry readable time stamps"
        latencies = [arrival - stamped for stamped, arrival in viewer.stamps]
        assert 0 <= min(latencies) < 1000
    info = relay.get(publisher.stream_id)
    assert info.viewers == 3 and info.codecs["video"] == "video/VP8"


async def test_viewer_offering_vp8_and_h264_gets_the_publishers_h264(relay: Relay, viewers):
    publisher = Publisher(relay_signal(relay), lambda: [SyntheticVideoTrack()], video_codec="video/H264")
    try:
        stream_id = await publisher.connect()
        viewer = viewers(codecs=["video/VP8", "video/H264"])
        await viewer.watch(relay, stream_id)
        await viewer.wait_frames(10)
        assert viewer.codec == "video/H264"
        assert relay.get(stream_id).codecs["video"] == "video/H264"
        assert viewer.stamps
    finally:
        await publisher.close()


async def test_viewer_that_cannot_take_the_publishers_codec_is_refused(
    relay: Relay, publisher: Publisher, viewers
):
    viewer = viewers(codecs=["video/H264"])
    await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
    with pytest.raises(CodecMismatch, match="video/VP8"):
        await relay.view(publisher.stream_id, viewer.pc.localDescription.sdp)
    assert relay.get(publisher.stream_id).viewers == 0


async def test_new_viewer_gets_a_picture_within_a_second(relay: Relay, publisher: Publisher, viewers):
    first = viewers()
    await first.watch(relay, publisher.stream_id)
    await first.wait_frames(5)
    # aiortc's VP8 encoder only makes keyframes on request (gop 3000), so a late joiner sees a picture
    # only if its keyframe request reached the publisher.
    await asyncio.sleep(2)
    for _ in range(3):
        late = viewers()
        await late.watch(relay, publisher.stream_id)
        await asyncio.wait_for(late.got_frame.wait(), 5)
        assert late.first_frame_at - late.started_at < 1.0
    assert first.frames > 40, "the first viewer kept receiving while others joined"


async def test_frames_are_forwarded_without_decoding(relay: Relay, publisher: Publisher, viewers):
    viewer = viewers()
    await viewer.watch(relay, publisher.stream_id)
    await viewer.wait_frames(10)
    upstream = relay._streams[publisher.stream_id].upstream_pc
    receiver = next(t.receiver for t in upstream.getTransceivers() if t.kind == "video")
    # The decoder thread never got a frame: the tap replaced its input queue.
    assert receiver._RTCRtpReceiver__decoder_queue.qsize() == 0
    assert receiver.track._queue.qsize() == 0
