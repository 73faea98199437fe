"""The pixel time stamp survives lossy compression and is rejected when absent."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest

from streaming import is_keyframe, read_stamp, stamp_frame


@pytest.mark.parametrize("bitrate", [150_000, 1_000_000])
def test_stamp_survives_vp8_at_low_bitrate(bitrate):
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 640, 480, "yuv420p"
    encoder.bit_rate = bitrate
    encoder.time_base = fractions.Fraction(1, 30)
    encoder.options = {"deadline": "realtime", "lag-in-frames": "0", "cpu-used": "8"}
    decoder = av.CodecContext.create("vp8", "r")
    start = 1_795_000_000_000
    read = []
    for n in range(30):
        frame = stamp_frame(start + n * 33, n)
        frame.pts = n
        frame.time_base = encoder.time_base
        for packet in encoder.encode(frame):
            assert is_keyframe("video/VP8", bytes(packet)) == (n == 0)
            for decoded in decoder.decode(av.Packet(bytes(packet))):
                read.append(read_stamp(decoded))
    assert [(s.epoch_ms, s.counter) for s in read] == [(start + n * 33, n) for n in range(30)]


def test_unstamped_pictures_are_not_misread():
    grey = av.VideoFrame.from_ndarray(np.full((720, 640), 128, np.uint8), format="yuv420p")
    assert read_stamp(grey) is None
    noise = np.random.default_rng(1).integers(0, 255, (720, 640), dtype=np.uint8)
    assert read_stamp(av.VideoFrame.from_ndarray(noise, format="yuv420p")) is None


def test_counter_wraps_and_other_sizes_work():
    stamp = read_stamp(stamp_frame(1_795_000_000_123, 4096 + 5, 320, 240))
    assert stamp.epoch_ms == 1_795_000_000_123 and stamp.counter == 5
    with pytest.raises(ValueError):
        stamp_frame(0, 0, 100, 100)


def test_h264_keyframes_are_recognised():
    assert is_keyframe("video/H264", b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x01\x65")
    assert not is_keyframe("video/H264", b"\x00\x00\x00\x01\x41\x9a")
    assert is_keyframe("audio/opus", b"\xfc")
