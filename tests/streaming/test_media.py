"""Audio with video, H.264 recordings, and the file source (aiortc MediaPlayer)."""

from __future__ import annotations

import asyncio
import fractions

import av
from aiortc.mediastreams import AudioStreamTrack
from streaming_helpers import relay_signal

from streaming import Publisher, Relay, SyntheticVideoTrack, open_source, read_stamp, stamp_frame


async def test_audio_is_forwarded_and_recorded_with_video(relay: Relay, viewers):
    publisher = Publisher(relay_signal(relay), lambda: [SyntheticVideoTrack(), AudioStreamTrack()])
    try:
        stream_id = await publisher.connect()
        viewer = viewers(audio=True)
        await viewer.watch(relay, stream_id)
        await viewer.wait_frames(30)
        assert viewer.audio_frames > 20
        assert relay.get(stream_id).codecs == {"video": "video/VP8", "audio": "audio/opus"}
        entries = await relay.stop(stream_id)
    finally:
        await publisher.close()
    entry = entries[0]
    assert entry["audio_frames"] > 20
    with av.open(str(relay.recording_dir(stream_id) / entry["file"])) as container:
        assert [s.codec_context.name for s in container.streams] == ["vp8", "opus"]
        audio_packets = [p for p in container.demux(audio=0) if p.size]
    assert len(audio_packets) == entry["audio_frames"]


async def test_h264_stream_is_recorded_as_h264(relay: Relay):
    publisher = Publisher(relay_signal(relay), lambda: [SyntheticVideoTrack()], video_codec="video/H264")
    try:
        stream_id = await publisher.connect()
        await asyncio.sleep(1.5)
        entries = await relay.stop(stream_id)
    finally:
        await publisher.close()
    path = relay.recording_dir(stream_id) / entries[0]["file"]
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        frames = list(container.decode(video=0))
    assert len(frames) == entries[0]["video_frames"] > 20
    assert (frames[0].width, frames[0].height) == (640, 480)
    assert read_stamp(frames[-1]) is not None


async def test_file_source_publishes(relay: Relay, viewers, tmp_path):
    path = tmp_path / "bodycam.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libvpx", rate=30)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for n in range(60):
            frame = stamp_frame(1_000 + n, n)
            frame.pts, frame.time_base = n, fractions.Fraction(1, 30)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    publisher = Publisher(relay_signal(relay), lambda: open_source(str(path))[0])
    try:
        stream_id = await publisher.connect()
        viewer = viewers()
        await viewer.watch(relay, stream_id)
        await viewer.wait_frames(10)
        assert {epoch for epoch, _ in viewer.stamps} <= set(range(1_000, 1_060))
    finally:
        await publisher.close()
