"""The recorder keeps the evidence through faults (found in review): a write error, a segment that cannot be
opened, and a crash that left a segment on disk.

``SegmentRecorder`` is driven directly with real VP8 frames from libvpx; faults are made on the real file
system (a directory where a segment file must go), not mocked.
"""

from __future__ import annotations

import asyncio
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from streaming.frames import EncodedFrame
from streaming.recording import SegmentRecorder, read_manifest, sha256_file


def _vp8(count: int = 6) -> list[bytes]:
    """Encoded VP8 frames, a keyframe every second frame."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = 64, 48, "yuv420p"
    codec.time_base = Fraction(1, 30)
    codec.options = {"g": "2"}
    packets: list[bytes] = []
    for i in range(count):
        picture = np.full((48, 64, 3), (i * 30) % 256, np.uint8)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        packets += [bytes(p) for p in codec.encode(frame)]
    return packets + [bytes(p) for p in codec.encode(None)]


def _frame(data: bytes, i: int) -> EncodedFrame:
    keyframe = (data[0] & 1) == 0  # RFC 6386: bit 0 of the tag is 0 on a keyframe
    return EncodedFrame("video", "video/VP8", 90000, data, i * 3000, keyframe, received_at=1000.0 + i)


def _recorder(folder: Path, closed: list[dict[str, Any]], **options: Any) -> SegmentRecorder:
    return SegmentRecorder(
        folder,
        "sid",
        loop=asyncio.get_running_loop(),
        on_segment_closed=closed.append,
        request_keyframe=lambda: None,
        **options,
    )


async def test_a_crash_s_left_over_segment_is_kept_hashed_and_listed(tmp_path: Path) -> None:
    left = tmp_path / "sid-0001.mkv"  # killed mid-segment: on disk, in no manifest
    left.write_bytes(b"footage up to the crash" * 100)
    before = sha256_file(left)
    closed: list[dict[str, Any]] = []
    recorder = _recorder(tmp_path, closed)
    data = _vp8()
    recorder.offer(_frame(data[0], 0))
    recorder.offer(_frame(data[1], 1))
    entries = await recorder.aclose()
    assert sha256_file(left) == before, "the footage before the crash was overwritten"
    assert [(e["file"], e.get("incomplete", False)) for e in entries] == [
        ("sid-0001.mkv", True),
        ("sid-0002.mkv", False),
    ]
    assert entries[0]["sha256"] == before and read_manifest(tmp_path) == entries
    # Both reached the stream (which audits their hashes): queued on the loop before the worker ended.
    assert [e["file"] for e in closed] == ["sid-0001.mkv", "sid-0002.mkv"]


async def test_a_segment_that_cannot_be_written_does_not_stop_the_recording(tmp_path: Path) -> None:
    folder = tmp_path / "sid"
    closed: list[dict[str, Any]] = []
    recorder = _recorder(folder, closed, segment_seconds=1.0)  # a keyframe starts a segment each second
    shutil.rmtree(folder)  # the recording disk is gone: no segment can be opened, no manifest written
    data = _vp8(12)
    for i in range(4):
        recorder.offer(_frame(data[i], i))
    async with asyncio.timeout(30):
        while recorder.dropped_frames < 4:  # the writer is alive and counting what it cannot write
            await asyncio.sleep(0.01)
    folder.mkdir()  # the disk is back: the next segment is recorded
    for i in range(4, 12):
        recorder.offer(_frame(data[i], i))
    entries = await asyncio.wait_for(recorder.aclose(), 30)  # it used to wait for ever
    files = [e["file"] for e in entries]
    assert files and len(files) == len(set(files)), files
    assert all(sha256_file(folder / e["file"]) == e["sha256"] for e in entries)
    assert read_manifest(folder) == entries


async def test_stopping_never_hangs_when_the_writer_has_died(tmp_path: Path) -> None:
    closed: list[dict[str, Any]] = []
    recorder = _recorder(tmp_path, closed, max_queue=5)
    await asyncio.to_thread(recorder._stop_worker)  # the worker ends; nothing drains the queue any more
    recorder._closed = False
    data = _vp8()
    for i in range(10):
        recorder.offer(_frame(data[i % len(data)], i))
    assert await asyncio.wait_for(recorder.aclose(), 10) == []
