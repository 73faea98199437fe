"""Recordings are the received frames, untranscoded, in Matroska segments with a SHA-256 manifest."""

from __future__ import annotations

import asyncio
import json

import av
from streaming_helpers import relay_signal

from streaming import Publisher, Relay, SyntheticVideoTrack, read_stamp, sha256_file, verify_manifest


def _decode_all(path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


async def test_recording_plays_back_with_the_right_frames_and_hash(
    relay: Relay, publisher: Publisher, events
):
    stream_id = publisher.stream_id
    stream = relay._streams[stream_id]
    await asyncio.sleep(2.5)
    recorded = stream.recorder.entries  # nothing closed yet
    assert recorded == []
    entries = await relay.stop(stream_id)
    assert len(entries) == 1
    entry = entries[0]
    path = relay.recording_dir(stream_id) / entry["file"]
    frames = _decode_all(path)
    assert len(frames) == entry["video_frames"] > 40
    assert entry["codec"] == "video/VP8" and entry["dropped_frames"] == 0
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "vp8"
    assert frames[0].width == 640 and frames[0].height == 480
    counters = [read_stamp(f).counter for f in frames]
    assert counters == sorted(counters), "frames were written in order"
    assert entry["sha256"] == sha256_file(path)
    assert relay.manifest(stream_id) == entries
    assert verify_manifest(relay.recording_dir(stream_id)) == []
    await asyncio.sleep(0.1)
    closed = events.of("recording_segment_closed")
    assert [e.data["sha256"] for e in closed] == [entry["sha256"]]


async def test_segments_rotate_on_keyframes_and_tampering_is_detected(tmp_path, events):
    relay = Relay(tmp_path, events, segment_seconds=1.0)
    publisher = Publisher(relay_signal(relay), lambda: [SyntheticVideoTrack()])
    try:
        stream_id = await publisher.connect()
        await asyncio.sleep(3.6)
        entries = await relay.stop(stream_id)
    finally:
        await publisher.close()
        await relay.close()
    assert len(entries) >= 3
    folder = tmp_path / stream_id
    total = 0
    for entry in entries:
        frames = _decode_all(folder / entry["file"])
        assert len(frames) == entry["video_frames"]
        assert read_stamp(frames[0]) is not None, "each segment starts with a decodable keyframe"
        total += len(frames)
    counters = [
        c for e in entries for c in (f.counter for f in map(read_stamp, _decode_all(folder / e["file"])))
    ]
    assert counters == sorted(counters) and len(set(counters)) == total
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [m["sha256"] for m in manifest] == [e["sha256"] for e in entries]
    with (folder / entries[1]["file"]).open("r+b") as handle:
        handle.seek(200)
        handle.write(b"tampered")
    assert verify_manifest(folder) == [f"{entries[1]['file']}: sha256 mismatch"]


async def test_no_recording_when_not_asked(relay: Relay):
    publisher = Publisher(relay_signal(relay, record=False), lambda: [SyntheticVideoTrack()])
    try:
        stream_id = await publisher.connect()
        await asyncio.sleep(0.5)
        assert relay.get(stream_id).recording is False
        assert await relay.stop(stream_id) == []
        assert relay.manifest(stream_id) == []
    finally:
        await publisher.close()
