"""Record received encoded frames into Matroska segments, untouched, with a SHA-256 manifest.

Frames are muxed as they arrived (no decode, no encode), so a recording is the evidence itself. Muxing and
hashing run in one worker thread per recorder behind a bounded queue, so file I/O never blocks the event
loop; if the disk falls that far behind, frames are dropped and the count is written into the manifest
rather than growing memory. A segment always starts at a video keyframe (the recorder asks the publisher
for one when a segment is due), so each file plays on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
from av.stream import Stream
from av.video.stream import VideoStream

from streaming.frames import EncodedFrame

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
_MKV_TIME_BASE = Fraction(1, 1000)
_MUXER_CODECS = {"video/vp8": "libvpx", "video/h264": "h264", "audio/opus": "libopus"}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: Path) -> list[dict[str, Any]]:
    """Return the manifest entries of one stream's recording folder (empty if nothing was recorded)."""
    path = directory / MANIFEST_NAME
    if not path.exists():
        return []
    return list(json.loads(path.read_text(encoding="utf-8")))


def verify_manifest(directory: Path) -> list[str]:
    """Re-hash every segment of a recording folder; return one line per missing or altered file."""
    problems = []
    for entry in read_manifest(directory):
        path = directory / entry["file"]
        if not path.exists():
            problems.append(f"{entry['file']}: missing")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{entry['file']}: sha256 mismatch")
    return problems


class SegmentRecorder:
    """Write one stream's frames to ``<directory>/<stream_id>-NNNN.mkv`` segments.

    ``offer`` is called on the event loop for every frame; ``on_segment_closed`` is called on the event loop
    with each finished segment's manifest entry; ``request_keyframe`` is how the recorder asks for the
    keyframe a new segment needs.
    """

    def __init__(
        self,
        directory: Path,
        stream_id: str,
        *,
        loop: Any,
        on_segment_closed: Callable[[dict[str, Any]], None],
        request_keyframe: Callable[[], None],
        segment_seconds: float = 300.0,
        max_queue: int = 900,
    ) -> None:
        self.directory = directory
        self.stream_id = stream_id
        self._loop = loop
        self._on_segment_closed = on_segment_closed
        self._request_keyframe = request_keyframe
        self._segment_seconds = segment_seconds
        self._queue: queue.Queue[tuple[bool, EncodedFrame] | None] = queue.Queue(max_queue)
        self._open = False
        self._segment_started = 0.0
        #: Set by the stream from the publisher's offer, so the first segment has its audio track even
        #: when the first video keyframe arrives before the first audio frame.
        self.with_audio = False
        #: Set by the stream when its publisher sends no video (a push-to-talk spurt, talk-back): segments
        #: then start at the first audio frame instead of a video keyframe.
        self.audio_only = False
        self._audio_seen = False
        self._closed = False
        self.dropped_frames = 0
        self.entries: list[dict[str, Any]] = []
        directory.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name=f"recorder-{stream_id}", daemon=True)
        self._thread.start()

    def offer(self, frame: EncodedFrame) -> None:
        """Queue a frame for writing, deciding on the loop where segments start."""
        if self._closed:
            return
        new_segment = False
        if frame.kind == "video":
            due = frame.received_at - self._segment_started >= self._segment_seconds
            if not self._open or due:
                if frame.keyframe:
                    new_segment = True
                    self._open = True
                    self._segment_started = frame.received_at
                else:
                    self._request_keyframe()
                    if not self._open:
                        return
        else:
            self._audio_seen = True
            if self.audio_only:
                due = frame.received_at - self._segment_started >= self._segment_seconds
                if not self._open or due:
                    new_segment = True
                    self._open = True
                    self._segment_started = frame.received_at
            if not self._open:
                return
        try:
            self._queue.put_nowait((new_segment, frame))
        except queue.Full:
            self.dropped_frames += 1

    async def aclose(self) -> list[dict[str, Any]]:
        """Finish the current segment and return every manifest entry of this recorder."""
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self._stop_worker)
        return list(self.entries)

    def _stop_worker(self) -> None:
        # Never wait on a full queue that no thread drains: stopping a stream (and the server) must end.
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.5)
                break
            except queue.Full:
                continue
        self._thread.join()

    # -- worker thread ---------------------------------------------------------------------------------

    def _run(self) -> None:
        """Write what is queued. No error may end this thread (a full disk, a file that cannot be opened):
        the frames would pile up unseen and ``aclose`` would wait for ever; the segment is closed instead,
        and frames wait for the next segment."""
        writer: _SegmentWriter | None = None
        index = self._adopt_leftovers()
        while True:
            item = self._queue.get()
            if item is None:
                break
            new_segment, frame = item
            if new_segment:
                if writer is not None:
                    self._finish_or_log(writer)
                    writer = None
                index = self._free_index(index + 1)
                path = self.directory / f"{self.stream_id}-{index:04d}.mkv"
                try:
                    writer = _SegmentWriter(path, index, frame, self.with_audio or self._audio_seen)
                except (av.FFmpegError, OSError, ValueError):
                    logger.exception(
                        "recording %s: cannot open %s; waiting for the next segment", self.stream_id, path
                    )
            if writer is None:
                self.dropped_frames += 1
                continue
            try:
                writer.write(frame)
            except (av.FFmpegError, OSError, ValueError):
                logger.exception("recording %s: cannot write frame; closing segment", self.stream_id)
                self.dropped_frames += 1
                self._finish_or_log(writer)
                writer = None
        if writer is not None:
            self._finish_or_log(writer)

    def _free_index(self, index: int) -> int:
        """The first segment number from ``index`` whose file does not exist: a file is never overwritten."""
        while (self.directory / f"{self.stream_id}-{index:04d}.mkv").exists():
            index += 1
        return index

    def _adopt_leftovers(self) -> int:
        """Hash and list the segments a crashed process left unlisted; return the highest segment number.

        A process killed mid-segment leaves a file that is in no manifest: it is the footage up to the crash.
        It goes into the manifest as ``incomplete`` with its hash (and so into the audit log), and the new
        segments are numbered after it.
        """
        listed = {entry["file"] for entry in read_manifest(self.directory)}
        highest = len(listed)
        for path in sorted(self.directory.glob(f"{self.stream_id}-*.mkv")):
            number = path.stem.rpartition("-")[2]
            if not number.isdigit():
                continue
            highest = max(highest, int(number))
            if path.name in listed:
                continue
            try:
                modified = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat()
                self._record(
                    {
                        "segment": int(number),
                        "file": path.name,
                        "sha256": sha256_file(path),
                        "bytes": path.stat().st_size,
                        "codec": "",
                        "video_frames": None,
                        "audio_frames": None,
                        "started_at": None,
                        "ended_at": modified,
                        "incomplete": True,
                    }
                )
                logger.warning(
                    "recording %s: %s was left by a crash; listed as incomplete", self.stream_id, path
                )
            except OSError:
                logger.exception("recording %s: cannot list the left-over %s", self.stream_id, path)
        return highest

    def _finish_or_log(self, writer: _SegmentWriter) -> None:
        try:
            self._finish(writer)
        except (av.FFmpegError, OSError, ValueError):
            logger.exception(
                "recording %s: cannot close %s; the next start lists it as incomplete",
                self.stream_id,
                writer.path,
            )

    def _finish(self, writer: _SegmentWriter) -> None:
        self._record(writer.close())

    def _record(self, entry: dict[str, Any]) -> None:
        """Add a finished segment to the manifest and tell the stream (which audits its hash)."""
        entry["stream_id"] = self.stream_id
        entry["dropped_frames"] = self.dropped_frames
        self.entries.append(entry)
        manifest = [*read_manifest(self.directory), entry]
        tmp = self.directory / (MANIFEST_NAME + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        os.replace(tmp, self.directory / MANIFEST_NAME)
        with contextlib.suppress(RuntimeError):  # loop already closed: the entry is still on disk
            self._loop.call_soon_threadsafe(self._on_segment_closed, dict(entry))


class _SegmentWriter:
    """One open Matroska file; timestamps are rebased to start at 0 ms."""

    def __init__(self, path: Path, index: int, first: EncodedFrame, with_audio: bool) -> None:
        self.path = path
        self.index = index
        self.started_at = datetime.fromtimestamp(first.received_at, UTC)
        self._start_wall = first.received_at
        self._container = av.open(str(path), "w", format="matroska")
        self._video: VideoStream | None = None
        if first.kind == "video":
            width, height = _dimensions(first)
            self._video = cast(
                VideoStream, self._container.add_stream(_MUXER_CODECS[first.mime_type.lower()], rate=30)
            )
            self._video.width, self._video.height = width, height
            self._video.time_base = _MKV_TIME_BASE
        self._audio = None
        if with_audio or first.kind == "audio":
            self._audio = self._container.add_stream("libopus", rate=48000)
            self._audio.layout = "stereo"
            self._audio.time_base = _MKV_TIME_BASE
        self._video_base = first.timestamp
        self._audio_base: tuple[int, float] | None = None
        self._last_pts: dict[str, int] = {}
        self.codec = first.mime_type
        self.video_frames = 0
        self.audio_frames = 0

    def write(self, frame: EncodedFrame) -> None:
        stream: Stream
        if frame.kind == "video":
            if self._video is None:
                return
            stream = self._video
            pts = (frame.timestamp - self._video_base) * 1000 // frame.clock_rate
            self.video_frames += 1
        else:
            if self._audio is None:
                return
            if self._audio_base is None:
                self._audio_base = (frame.timestamp, (frame.received_at - self._start_wall) * 1000)
            base_ts, base_ms = self._audio_base
            pts = int(base_ms + (frame.timestamp - base_ts) * 1000 // frame.clock_rate)
            stream = self._audio
            self.audio_frames += 1
        pts = max(pts, self._last_pts.get(frame.kind, -1) + 1)
        self._last_pts[frame.kind] = pts
        packet = av.Packet(frame.data)
        packet.pts = packet.dts = pts
        packet.time_base = _MKV_TIME_BASE
        packet.stream = stream
        packet.is_keyframe = frame.keyframe
        self._container.mux(packet)

    def close(self) -> dict[str, Any]:
        self._container.close()
        return {
            "segment": self.index,
            "file": self.path.name,
            "sha256": sha256_file(self.path),
            "bytes": self.path.stat().st_size,
            "codec": self.codec,
            "video_frames": self.video_frames,
            "audio_frames": self.audio_frames,
            "started_at": self.started_at.isoformat(),
            "ended_at": datetime.now(UTC).isoformat(),
        }


def _dimensions(keyframe: EncodedFrame) -> tuple[int, int]:
    """Read the picture size by decoding the segment's first keyframe (one decode per segment)."""
    if keyframe.mime_type.lower() == "video/vp8" and len(keyframe.data) >= 10:
        # RFC 6386 9.1: 14-bit width and height follow the 3-byte tag and the start code.
        width = int.from_bytes(keyframe.data[6:8], "little") & 0x3FFF
        height = int.from_bytes(keyframe.data[8:10], "little") & 0x3FFF
        return width, height
    decoder = av.CodecContext.create("h264", "r")
    for decoded in decoder.decode(av.Packet(keyframe.data)):
        return decoded.width, decoded.height
    return 640, 480
