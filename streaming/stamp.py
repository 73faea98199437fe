"""Stamp the wall-clock time into a picture so latency can be read back from any decoded copy.

The stamp is an 8 x 8 grid of black or white blocks covering the whole frame (80 x 60 pixels each at
640 x 480): 44 bits of epoch milliseconds, 12 bits of frame counter and an 8-bit checksum. Blocks that big
survive VP8/H.264 at any usable bitrate, and reading samples only the middle of each block, so the decoder
does not depend on exact pixel values. Used by the synthetic publisher, the tests and the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass

from av import VideoFrame

GRID = 8
_MS_BITS = 44
_COUNTER_BITS = 12
_BLACK, _WHITE = 16, 235


@dataclass(frozen=True, slots=True)
class Stamp:
    epoch_ms: int
    counter: int


def _checksum(value: int) -> int:
    return (sum(value.to_bytes(7, "big")) & 0xFF) ^ 0xA5


def _bits(epoch_ms: int, counter: int) -> list[int]:
    value = ((epoch_ms & ((1 << _MS_BITS) - 1)) << _COUNTER_BITS) | (counter & ((1 << _COUNTER_BITS) - 1))
    word = (value << 8) | _checksum(value)
    return [(word >> (63 - i)) & 1 for i in range(64)]


def stamp_frame(epoch_ms: int, counter: int, width: int = 640, height: int = 480) -> VideoFrame:
    """Return a yuv420p frame whose picture encodes ``epoch_ms`` and ``counter``."""
    if width % (2 * GRID) or height % (2 * GRID):
        raise ValueError(f"width and height must be multiples of {2 * GRID}")
    frame = VideoFrame(width, height, "yuv420p")
    luma, *chroma = frame.planes
    bits = _bits(epoch_ms, counter)
    block_w, block_h = width // GRID, height // GRID
    padding = bytes(luma.line_size - width)
    rows = []
    for grid_row in range(GRID):
        line = b"".join(
            bytes([_WHITE if bit else _BLACK]) * block_w
            for bit in bits[grid_row * GRID : (grid_row + 1) * GRID]
        )
        rows.append((line + padding) * block_h)
    luma.update(b"".join(rows))
    for plane in chroma:
        plane.update(bytes([128]) * plane.buffer_size)
    return frame


def read_stamp(frame: VideoFrame) -> Stamp | None:
    """Decode the stamp from a frame, or ``None`` if the checksum does not match (not a stamped frame)."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    luma = frame.planes[0]
    data, stride = bytes(luma), luma.line_size
    block_w, block_h = frame.width // GRID, frame.height // GRID
    word = 0
    for grid_row in range(GRID):
        y = grid_row * block_h + block_h // 2
        for grid_col in range(GRID):
            x = grid_col * block_w + block_w // 2
            word = (word << 1) | (data[y * stride + x] > 128)
    value, check = word >> 8, word & 0xFF
    if _checksum(value) != check:
        return None
    return Stamp(epoch_ms=value >> _COUNTER_BITS, counter=value & ((1 << _COUNTER_BITS) - 1))
