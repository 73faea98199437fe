"""A publisher that drops and reconnects keeps its stream id; viewers keep their tracks."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from streaming_helpers import relay_signal

from streaming import CodecMismatch, Publisher, Relay, SyntheticVideoTrack


async def test_reconnection_keeps_viewers_tracks(relay: Relay, publisher: Publisher, viewers, events):
    stream_id = publisher.stream_id
    viewer = viewers()
    await viewer.watch(relay, stream_id)
    await viewer.wait_frames(10)
    tracks_before = [t.receiver.track for t in viewer.pc.getTransceivers()]
    old_upstream = publisher.pc

    # The network drops: the publisher comes back on a new peer connection, same stream id.
    assert await publisher.connect() == stream_id
    assert publisher.pc is not old_upstream
    frames_at_reconnect = viewer.frames
    stamps_at_reconnect = len(viewer.stamps)
    await viewer.wait_frames(frames_at_reconnect + 20, timeout=5)

    assert [t.receiver.track for t in viewer.pc.getTransceivers()] == tracks_before
    assert viewer.pc.connectionState == "connected"
    assert len(viewer.stamps) > stamps_at_reconnect, "pictures from the new connection decode"
    assert [s.id for s in relay.streams()] == [stream_id]
    await asyncio.sleep(0.1)
    assert [e.type for e in events.events].count("publisher_reconnected") == 1


async def test_publisher_loss_then_return_within_grace(relay: Relay, publisher: Publisher, viewers, events):
    stream_id = publisher.stream_id
    viewer = viewers()
    await viewer.watch(relay, stream_id)
    await viewer.wait_frames(5)
    await publisher.close()  # the relay sees the upstream close; viewers stay
    for _ in range(50):
        if events.of("publisher_lost"):
            break
        await asyncio.sleep(0.1)
    assert events.of("publisher_lost")
    assert relay.get(stream_id).live
    assert await publisher.connect() == stream_id
    count = viewer.frames
    await viewer.wait_frames(count + 10)


async def test_stream_ends_when_publisher_does_not_return(tmp_path, events, viewers):
    relay = Relay(tmp_path, events, reconnect_grace=0.3)
    publisher = Publisher(relay_signal(relay), lambda: [SyntheticVideoTrack()])
    try:
        stream_id = await publisher.connect()
        await asyncio.sleep(0.5)
        await publisher.close()
        for _ in range(50):
            if events.of("ended"):
                break
            await asyncio.sleep(0.1)
        assert [e.stream_id for e in events.of("ended")] == [stream_id]
        assert relay.streams() == []
        assert relay.manifest(stream_id), "the recording stays after the stream ends"
    finally:
        await relay.close()


async def test_reconnection_must_keep_the_codec(relay: Relay, publisher: Publisher):
    h264 = Publisher(relay_signal(relay), lambda: [SyntheticVideoTrack()], video_codec="video/H264")
    h264.stream_id = publisher.stream_id  # pretend to be the same device coming back with another codec
    try:
        with pytest.raises(CodecMismatch):
            await h264.connect()
    finally:
        await h264.close()
    assert relay.get(publisher.stream_id).codecs["video"] == "video/VP8"


async def test_publisher_reconnects_when_the_relay_goes_silent(relay: Relay, viewers, events):
    publisher = Publisher(relay_signal(relay), lambda: [SyntheticVideoTrack()], media_timeout=1.5)
    try:
        stream_id = await publisher.connect()
        viewer = viewers()
        await viewer.watch(relay, stream_id)
        await viewer.wait_frames(5)
        running = asyncio.ensure_future(publisher.run(duration=8, stats_interval=0.3))
        await asyncio.sleep(1.0)

        async def silent(packet) -> None:  # the network drops the relay's receiver reports
            return None

        for transceiver in relay._streams[stream_id].upstream_pc.getTransceivers():
            transceiver.receiver._send_rtcp = silent
        for _ in range(80):
            if publisher.connections == 2:
                break
            await asyncio.sleep(0.1)
        assert publisher.connections == 2, "reconnected well before ICE consent would fail (30 s)"
        assert publisher.stream_id == stream_id
        count = viewer.frames
        await viewer.wait_frames(count + 10)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
    finally:
        await publisher.close()
