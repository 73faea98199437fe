"""Live viewers never queue stale frames: a stalled viewer is bounded and resynchronised."""

from __future__ import annotations

import asyncio
import tracemalloc

from streaming import EncodedFrame, ForwardingTrack, Publisher, Relay
from streaming.track import KeyframeRequester


async def test_stalled_subscriber_does_not_grow(relay: Relay, publisher: Publisher, viewers):
    viewer = viewers()
    await viewer.watch(relay, publisher.stream_id)
    stalled = relay.subscribe(publisher.stream_id, "video")
    await asyncio.wait_for(stalled.recv(), 5)  # started, then never read again
    await viewer.wait_frames(5)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    frames_before = viewer.frames
    # About three seconds of video reach the healthy viewer while the stalled one reads nothing: it is not
    # held back (else it would never get them), and the stalled queue overflowed many times over.
    await viewer.wait_frames(frames_before + 90, timeout=60)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert stalled.queue_size <= stalled.max_queue
    assert stalled.frames_dropped > 0 and stalled.resyncs > 0
    stats = relay.forwarding_stats(publisher.stream_id)
    assert stats[stalled.id]["resyncs"] > 0 and stats[stalled.id]["queued"] <= stalled.max_queue
    assert len(stats) == 2 and min(v["frames_sent"] for v in stats.values()) >= 1
    assert grown < 5_000_000, f"memory grew by {grown} bytes"
    stream = relay._streams[publisher.stream_id]
    assert stream.keyframes.sent < 20, "keyframe requests are rate limited"


def _frame(n: int, keyframe: bool) -> EncodedFrame:
    return EncodedFrame(
        "video", "video/VP8", 90000, bytes([0 if keyframe else 1]) + b"x" * 100, n * 3000, keyframe
    )


async def test_track_drops_to_the_next_keyframe_when_full():
    requests = []
    track = ForwardingTrack("video", on_keyframe_needed=lambda: requests.append(1), max_queue=5)
    track.offer(_frame(0, True))
    assert track.queue_size == 0, "nothing is buffered before the sender starts"
    receiving = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)
    assert requests == [1], "a starting viewer asks for a keyframe"
    track.offer(_frame(1, False))
    assert track.queue_size == 0, "no delta frame before the first keyframe"
    track.offer(_frame(2, True))
    packet = await receiving
    assert packet.pts == 6000
    for n in range(3, 20):
        track.offer(_frame(n, False))
    assert track.queue_size <= 5
    assert len(requests) == 2, "overflow asks for a keyframe"
    track.offer(_frame(20, False))
    assert track.queue_size == 0, "after overflow, wait for a keyframe"
    track.offer(_frame(21, True))
    assert (await track.recv()).pts == 21 * 3000
    track.stop()


async def test_audio_track_drops_oldest():
    track = ForwardingTrack("audio", max_queue=3)
    receiving = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)
    for n in range(10):
        track.offer(EncodedFrame("audio", "audio/opus", 48000, b"o", n * 960, True))
    assert track.queue_size <= 3
    assert (await receiving).pts == 7 * 960, "the oldest frames were dropped"
    assert (await track.recv()).pts == 8 * 960
    track.stop()


async def test_keyframe_requests_are_coalesced_and_retried():
    sent = []
    requester = KeyframeRequester(lambda: sent.append(1) or True, min_interval=0.2, retry_after=0.3)
    for _ in range(10):
        requester.request()  # ten viewers join at once
    assert len(sent) == 1
    await asyncio.sleep(0.1)
    requester.request()
    assert len(sent) == 1, "inside the interval: coalesced"
    await asyncio.sleep(0.35)
    assert len(sent) == 2, "no keyframe came: asked again"
    requester.keyframe_arrived()
    await asyncio.sleep(0.5)
    assert len(sent) == 2, "satisfied: no more requests"
    requester.close()
