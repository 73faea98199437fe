"""Stamp the wall-clock time into a picture so latency can be read back from any decoded copy.

The stamp is an 8 x 8 grid of black or white blocks covering the whole frame (80 x 60 pixels each at
640 x 480): 44 bits of epoch milliseconds, 12 bits of frame counter and an 8-bit checksum. Blocks that big
survive VP8/H.264 at any usable bitrate, and reading samples only the middle of each block, so the decoder
does not depend on exact pixel values. Used by the synthetic publisher, the tests and the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from av import VideoFrame

GRID = 8
_MS_BITS = 44
_COUNTER_BITS = 12


@dataclass(frozen=True, slots=True)
class Stamp:
    epoch_ms: int
    counter: int


def _checksum(value: int) -> int:
    return sum(value.to_bytes(7, "big")) & 0xFF ^ 0xA5


def _bits(epoch_ms: int, counter: int) -> np.ndarray:
    value = ((epoch_ms & ((1 << _MS_BITS) - 1)) << _COUNTER_BITS) | (counter & ((1 << _COUNTER_BITS) - 1))
    word = (value << 8) | _checksum(value)
    return np.array([(word >> (63 - i)) & 1 for i in range(64)], dtype=np.uint8).reshape(GRID, GRID)


def stamp_frame(epoch_ms: int, counter: int, width: int = 640, height: int = 480) -> VideoFrame:
    """Return a yuv420p frame whose picture encodes ``epoch_ms`` and ``counter``."""
    if width % (2 * GRID) or height % (2 * GRID):
        raise ValueError(f"width and height must be multiples of {2 * GRID}")
    luma = np.kron(_bits(epoch_ms, counter) * 235, np.ones((height // GRID, width // GRID), np.uint8))
    luma = np.maximum(luma, 16).astype(np.uint8)
    chroma = np.full((height // 2, width), 128, np.uint8)
    return VideoFrame.from_ndarray(np.vstack([luma, chroma]), format="yuv420p")


def read_stamp(frame: VideoFrame) -> Stamp | None:
    """Decode the stamp from a frame, or ``None`` if the checksum does not match (not a stamped frame)."""
    luma = frame.to_ndarray(format="gray") if frame.format.name != "yuv420p" else frame.to_ndarray()
    height = frame.height
    luma = luma[:height]
    block_h, block_w = height // GRID, frame.width // GRID
    centres = luma[block_h // 2 :: block_h, block_w // 2 :: block_w][:GRID, :GRID]
    bits = (centres > 128).astype(np.uint8).flatten()
    word = 0
    for bit in bits:
        word = (word << 1) | int(bit)
    value, check = word >> 8, word & 0xFF
    if _checksum(value) != check:
        return None
    return Stamp(epoch_ms=value >> _COUNTER_BITS, counter=value & ((1 << _COUNTER_BITS) - 1))
