"""Pull ingest from real RTSP (GStreamer) and RTMP (nginx + ffmpeg) servers, forwarded untranscoded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from streaming_helpers import Viewer

from streaming import Relay, StreamingError
from streaming.packet_source import SourceError
from streaming.pull import Puller
from tests.streaming.servers.run import free_port, rtmp_server, rtsp_server

pytestmark = pytest.mark.slow


async def _until(predicate, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_rtsp_h264_is_forwarded_and_viewers_negotiate_h264(relay: Relay, viewers) -> None:  # type: ignore[no-untyped-def]
    puller = Puller(relay)
    try:
        async with rtsp_server() as url:
            pull = await puller.start(url, metadata={"officer": "东门摄像头"})
            assert pull.codec == "video/H264"
            info = relay.get(pull.stream_id)
            assert info.codecs == {"video": "video/H264"} and info.recording
            viewer: Viewer = viewers()  # offers VP8 and H264; the answer pins H264
            await viewer.watch(relay, pull.stream_id)
            assert viewer.codec == "video/H264"
            await viewer.wait_frames(20, timeout=30)
            assert viewer.sizes == {(640, 480)}
    finally:
        await puller.close()
    with pytest.raises(StreamingError):
        relay.get(pull.stream_id)  # stop() ended the stream
    assert relay.manifest(pull.stream_id), "recorded like any stream"


async def test_pull_reconnects_under_the_same_stream_after_the_source_restarts(relay: Relay, viewers) -> None:  # type: ignore[no-untyped-def]
    puller = Puller(relay, min_backoff=0.2, max_backoff=1.0)
    port = free_port()
    try:
        async with rtsp_server(port) as url:
            pull = await puller.start(url)
            viewer: Viewer = viewers()
            await viewer.watch(relay, pull.stream_id)
            await viewer.wait_frames(10, timeout=30)
        before = viewer.frames
        async with rtsp_server(port):  # the camera comes back on the same address
            await _until(lambda: pull.reconnects >= 1)
            await viewer.wait_frames(before + 20, timeout=30)
        assert pull.stream_id == relay.get(pull.stream_id).id  # same stream, same viewer track
    finally:
        await puller.close()


async def test_rtsp_vp8_is_forwarded_as_vp8(relay: Relay, viewers) -> None:  # type: ignore[no-untyped-def]
    puller = Puller(relay)
    try:
        async with rtsp_server(codec="vp8") as url:
            pull = await puller.start(url)
            viewer: Viewer = viewers()
            await viewer.watch(relay, pull.stream_id)
            assert viewer.codec == "video/VP8"
            await viewer.wait_frames(10, timeout=30)
    finally:
        await puller.close()


async def test_rtmp_from_nginx_fed_by_ffmpeg(relay: Relay, viewers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    puller = Puller(relay, min_backoff=0.2, max_backoff=1.0)
    try:
        async with rtmp_server(tmp_path / "nginx") as url:
            for _ in range(50):  # ffmpeg needs a moment to start publishing; retry the first open
                try:
                    pull = await puller.start(url)
                    break
                except SourceError:
                    await asyncio.sleep(0.2)
            else:
                raise AssertionError("the RTMP stream never became readable")
            assert pull.codec == "video/H264"
            viewer: Viewer = viewers()
            await viewer.watch(relay, pull.stream_id)
            await viewer.wait_frames(10, timeout=30)
    finally:
        await puller.close()


async def test_bad_sources_are_refused_at_once(relay: Relay) -> None:
    puller = Puller(relay)
    with pytest.raises(StreamingError, match="rtsp:// or rtmp://"):
        await puller.start("http://127.0.0.1/cam")
    with pytest.raises(SourceError, match="cannot open"):
        await puller.start(f"rtsp://127.0.0.1:{free_port()}/cam")
    assert relay.streams() == []
