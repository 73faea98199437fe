"""A viewer joining a pushed (pulled-camera) stream mid-GOP gets a picture from the cached GOP at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import av
from media_files import encode_file

from streaming import EncodedFrame, ForwardingTrack, Relay
from streaming.gop_cache import GopCache
from streaming.packet_source import PacketSource


def _frame(n: int, keyframe: bool, size: int = 100) -> EncodedFrame:
    return EncodedFrame(
        "video", "video/VP8", 90000, bytes([0 if keyframe else 1]) + b"x" * size, n * 3000, keyframe
    )


def test_cache_keeps_the_frames_from_the_latest_keyframe():
    cache = GopCache()
    cache.add(_frame(0, False))
    assert cache.burst() == [], "nothing decodable before the first keyframe"
    for n in range(1, 6):
        cache.add(_frame(n, n == 1))
    cache.add(_frame(6, True))
    cache.add(_frame(7, False))
    burst = cache.burst()
    assert [f.keyframe for f in burst] == [True, False]
    assert [f.data for f in burst] == [_frame(6, True).data, _frame(7, False).data]


def test_burst_is_squeezed_to_end_at_the_newest_timestamp():
    cache = GopCache()
    for n in range(10, 20):
        cache.add(_frame(n, n == 10))
    burst = cache.burst()
    assert [f.timestamp for f in burst] == list(range(19 * 3000 - 9, 19 * 3000 + 1))
    assert [p.pts for p in (f.packet for f in burst)] == [f.timestamp for f in burst]
    assert cache.burst()[0].timestamp == burst[0].timestamp, "the cache itself is untouched"


def test_a_gop_beyond_the_bounds_is_not_cached():
    by_count = GopCache(max_frames=5)
    for n in range(6):
        by_count.add(_frame(n, n == 0))
    assert by_count.burst() == [], "over max_frames: joiners wait for the next keyframe"
    by_count.add(_frame(6, False))
    assert by_count.burst() == [], "and it stays empty until that keyframe"
    by_count.add(_frame(7, True))
    assert len(by_count.burst()) == 1
    by_bytes = GopCache(max_bytes=1000)
    for n in range(20):
        by_bytes.add(_frame(n, n == 0, size=99))
    assert by_bytes.burst() == []


async def test_track_starts_with_the_gop_and_then_continues_live():
    cache = GopCache()
    for n in range(5):
        cache.add(_frame(n, n == 0))
    requests: list[int] = []
    track = ForwardingTrack("video", on_keyframe_needed=lambda: requests.append(1), start_frames=cache.burst)
    first = await track.recv()
    assert requests == [], "with a cached GOP there is no keyframe to wait for"
    track.offer(_frame(5, False))  # the live delta frame right after the cached ones
    rest = [await track.recv() for _ in range(5)]
    squeezed = [4 * 3000 - 4, 4 * 3000 - 3, 4 * 3000 - 2, 4 * 3000 - 1, 4 * 3000]
    assert [p.pts for p in [first, *rest]] == [*squeezed, 5 * 3000]
    track.stop()


async def _demuxed(path: Path) -> list[tuple[bytes, int, bool]]:
    """The file's frames as the relay receives them from a pull: Annex B, 90 kHz, keyframe flag."""
    frames: list[tuple[bytes, int, bool]] = []
    source = PacketSource(lambda: av.open(str(path)), name=path.name)
    await source.open()
    await source.pump(lambda kind, mime, rate, data, ts: frames.append((data, ts, False)))
    await asyncio.sleep(0)  # the pushes were scheduled onto the loop; let them run
    return [(data, ts, data.find(b"\x00\x00\x01\x65") != -1) for data, ts, _ in frames]


async def test_viewer_joining_a_pulled_h264_stream_mid_gop_decodes_without_the_next_keyframe(
    relay: Relay, viewers, tmp_path: Path
):
    # One keyframe, then a long run of delta frames: the "camera" sends no other keyframe in this test.
    path = encode_file(tmp_path / "camera.ts", container="mpegts", frames=40, gop=250)
    frames = await _demuxed(path)
    assert frames[0][2] and not any(keyframe for _, _, keyframe in frames[1:])
    feed = relay.open_feed({"video": "video/H264"}, record=False)  # like a pull: nobody to ask for keyframes
    for data, ts, _ in frames[:12]:
        feed.push("video", "video/H264", 90000, data, ts)  # mid-GOP: 11 delta frames since the keyframe
    viewer = viewers(codecs=["video/H264"])
    await viewer.watch(relay, feed.stream_id)
    # No frame is pushed from here on: a picture can only come from the cache.
    await asyncio.wait_for(viewer.got_frame.wait(), 30)
    assert viewer.codec == "video/H264"
    assert viewer.sizes == {(320, 240)}
    assert viewer.stamps, "the decoded picture carries the encoder's stamp (decoded, not garbage)"
    (track,) = relay._streams[feed.stream_id].tracks("video")
    assert track.frames_sent == track.gop_frames == 12, "the whole cached GOP, keyframe first, only that"
    # Live frames then follow the GOP on the same viewer.
    before = viewer.frames
    for data, ts, _ in frames[12:]:
        feed.push("video", "video/H264", 90000, data, ts)
    await viewer.wait_frames(before + 20, timeout=30)
