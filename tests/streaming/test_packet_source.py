"""Packets demuxed by PyAV -> relay feed -> real aiortc viewers, without transcoding."""

from __future__ import annotations

import asyncio
from pathlib import Path

import av
import pytest
from media_files import encode_file

from streaming import CodecMismatch, Relay
from streaming.packet_source import PacketSource, PushedBytes, SourceError, UnsupportedCodec, forward_into


async def _wait(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def _file_source(path: Path, fmt: str | None = None) -> PacketSource:
    return PacketSource(lambda: av.open(str(path), format=fmt), name=path.name)


@pytest.mark.parametrize(
    ("container", "codec", "mime"),
    [("mpeg", "h264", "video/H264"), ("mp4", "h264", "video/H264"), ("webm", "vp8", "video/VP8")],
)
async def test_viewer_decodes_stamped_frames_from_a_demuxed_file(
    relay: Relay, viewers, tmp_path: Path, container: str, codec: str, mime: str
):
    path = encode_file(tmp_path / f"clip.{container}", container=container, codec=codec, frames=250)
    source = _file_source(path)
    assert await source.open() == mime
    feed = relay.open_feed({"video": mime})
    viewer = viewers(codecs=[mime])
    await viewer.watch(relay, feed.stream_id)
    # A file demuxes at once; pace it like a live source so the connecting viewer sees its frames.
    pacer = _paced(feed.push, 1 / 50)
    try:
        await source.pump(pacer)
        await viewer.wait_frames(5, timeout=20)
    finally:
        pacer.task.cancel()
    assert viewer.codec == mime
    assert viewer.sizes == {(320, 240)}
    assert viewer.stamps, "the pictures that arrived carry the encoder's stamps (decodable, not garbage)"
    assert relay.get(feed.stream_id).codecs == {"video": mime}
    assert source.status.keyframes >= 1 and source.status.codec == codec


def _paced(push, interval: float):
    """Deliver pushed frames at a steady pace, as a live source would (a file demuxes instantly)."""
    queue: asyncio.Queue = asyncio.Queue()

    async def drain() -> None:
        while True:
            args = await queue.get()
            push(*args)
            await asyncio.sleep(interval)

    task = asyncio.ensure_future(drain())

    def enqueue(*args) -> None:
        queue.put_nowait(args)

    enqueue.task = task  # type: ignore[attr-defined]
    return enqueue


async def test_forwarded_bytes_are_the_sources_bitstream(relay: Relay, tmp_path: Path):
    path = encode_file(tmp_path / "clip.ps", container="mpeg", frames=30)
    expected = []
    with av.open(str(path), format="mpeg") as container:
        for packet in container.demux(video=0):
            if packet.size:
                expected.append(bytes(packet))
    source = _file_source(path, "mpeg")
    mime = await source.open()
    feed = relay.open_feed({"video": mime}, record=False)
    track = relay.subscribe(feed.stream_id)
    got: list[bytes] = []

    async def read() -> None:
        while True:
            got.append(bytes(await track.recv()))

    reader = asyncio.ensure_future(read())
    await asyncio.sleep(0)  # the track's first recv() arms it
    await source.pump(feed.push)
    await _wait(lambda: len(got) == len(expected))
    reader.cancel()
    assert got == expected, "every frame reaches subscribers byte for byte: nothing re-encoded"


async def test_length_prefixed_h264_becomes_annex_b_with_parameter_sets(relay: Relay, tmp_path: Path):
    path = encode_file(tmp_path / "clip.mp4", container="mp4", frames=30, gop=10)
    source = _file_source(path)
    frames: list[tuple[bytes, int]] = []
    await source.open()
    await source.pump(lambda kind, mime, rate, data, ts: frames.append((data, ts)))
    assert all(data.startswith(b"\x00\x00\x00\x01") or data.startswith(b"\x00\x00\x01") for data, _ in frames)
    keyframes = [data for data, _ in frames if b"\x00\x00\x01\x65" in data or b"\x00\x00\x00\x01\x65" in data]
    assert len(keyframes) == 3
    assert all(b"\x00\x00\x01\x67" in data or b"\x00\x00\x00\x01\x67" in data for data in keyframes)
    stamps = [ts for _, ts in frames]
    assert stamps[0] == 0 and stamps[1] == 3600, "25 fps on the 90 kHz clock"
    assert stamps == sorted(stamps)


@pytest.mark.parametrize(("codec", "container"), [("mjpeg", "matroska"), ("hevc", "matroska")])
async def test_a_codec_browsers_cannot_take_is_refused_by_name(tmp_path: Path, codec: str, container: str):
    path = encode_file(tmp_path / "clip.mkv", container=container, codec=codec, frames=5)
    source = _file_source(path)
    with pytest.raises(UnsupportedCodec, match=codec) as caught:
        await source.open()
    assert "H.264" in caught.value.detail
    assert source.status.opened and source.status.codec == codec and source.status.error


async def test_pushed_bytes_feed_the_demuxer_and_close_interrupts_a_waiting_open(tmp_path: Path):
    path = encode_file(tmp_path / "clip.ps", container="mpeg", frames=30)
    data = path.read_bytes()
    pipe = PushedBytes()
    source = PacketSource(
        lambda: av.open(pipe, format="mpeg", options={"probesize": "4096", "analyzeduration": "0"}),
        interrupt=pipe.close,
    )
    opening = asyncio.ensure_future(source.open())
    for offset in range(0, len(data), 1316):
        pipe.write(data[offset : offset + 1316])
        await asyncio.sleep(0)
    assert await asyncio.wait_for(opening, 10) == "video/H264"
    got: list[bytes] = []
    pump = asyncio.ensure_future(source.pump(lambda *args: got.append(args[3])))
    pipe.close()
    await asyncio.wait_for(pump, 10)
    assert len(got) >= 28 and source.status.keyframes >= 1

    silent = PushedBytes()
    waiting = PacketSource(lambda: av.open(silent, format="mpeg"), interrupt=silent.close)
    opening = asyncio.ensure_future(waiting.open())
    await asyncio.sleep(0.05)
    assert not opening.done(), "open blocks while no byte has arrived"
    waiting.stop()
    with pytest.raises(SourceError):
        await asyncio.wait_for(opening, 10)


def test_pushed_bytes_are_bounded():
    pipe = PushedBytes(limit=10)
    pipe.write(b"123456")
    pipe.write(b"789012")
    assert pipe.dropped == 6 and pipe.read(100) == b"123456"


async def test_feed_refuses_codecs_it_cannot_forward_and_a_takeover_keeps_the_stream(relay: Relay):
    with pytest.raises(CodecMismatch, match="H265"):
        relay.open_feed({"video": "video/H265"})
    first = relay.open_feed({"video": "video/H264"})
    first.lost()
    second = relay.open_feed({"video": "video/H264"}, stream_id=first.stream_id)
    assert second.stream_id == first.stream_id and relay.get(first.stream_id).live
    with pytest.raises(CodecMismatch, match="video/H264"):
        relay.open_feed({"video": "video/VP8"}, stream_id=first.stream_id)
    await first.stop()
    assert relay.get(first.stream_id).live, "a replaced feed cannot end the stream that moved on"
    await second.stop()
    assert not second.live


async def test_forward_into_marks_the_feed_lost_when_the_source_ends(relay: Relay, events, tmp_path: Path):
    path = encode_file(tmp_path / "clip.webm", container="webm", codec="vp8", frames=10)
    announced = []
    feed = await forward_into(relay, _file_source(path), on_started=announced.append, record=False)
    assert announced == [feed]
    await _wait(lambda: events.of("publisher_lost"))
    assert relay.get(feed.stream_id).live, "viewers are kept for the reconnect grace"
