"""Small media files made with PyAV for the ingest tests: stamped pictures in a chosen codec and container."""

from __future__ import annotations

import fractions
import time
from pathlib import Path

import av

from streaming import stamp_frame

ENCODERS = {"h264": "libx264", "vp8": "libvpx", "mjpeg": "mjpeg", "hevc": "libx265"}


def encode_file(
    path: Path,
    *,
    container: str,
    codec: str = "h264",
    frames: int = 50,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    gop: int = 25,
) -> Path:
    """Write ``frames`` stamped frames (see ``streaming.stamp``) as ``codec`` in ``container`` format."""
    width, height = size
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(ENCODERS[codec], rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "h264":
            stream.codec_context.options = {
                "tune": "zerolatency",
                "preset": "ultrafast",
                "g": str(gop),
                "bf": "0",
            }
            stream.codec_context.profile = "Constrained Baseline"
        elif codec == "vp8":
            stream.codec_context.options = {"g": str(gop), "deadline": "realtime"}
        elif codec == "hevc":
            stream.codec_context.options = {"preset": "ultrafast", "x265-params": "log-level=error"}
        now_ms = int(time.time() * 1000)
        for index in range(frames):
            frame = stamp_frame(now_ms + index * 1000 // fps, index, width, height)
            if codec == "mjpeg":
                frame = frame.reformat(format="yuvj420p")
            frame.pts = index
            frame.time_base = fractions.Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
