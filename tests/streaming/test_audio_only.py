"""Audio-only streams (a push-to-talk spurt, talk-back): forwarded untranscoded and recorded per spurt."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable

import av
from aiortc.mediastreams import AudioStreamTrack
from streaming_helpers import Viewer, relay_signal

from streaming import Publisher, Relay


async def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def test_an_audio_only_spurt_reaches_listeners_and_is_recorded_with_its_hash(relay: Relay, viewers):
    publisher = Publisher(relay_signal(relay), lambda: [AudioStreamTrack()])
    try:
        stream_id = await publisher.connect()
        assert relay.get(stream_id).codecs == {"audio": "audio/opus"}
        listeners: list[Viewer] = [viewers(audio=True) for _ in range(3)]
        for listener in listeners:
            await listener.watch(relay, stream_id)
        await _until(lambda: all(v.audio_frames > 25 for v in listeners))
        entries = await relay.stop(stream_id)
    finally:
        await publisher.close()
    assert len(entries) == 1
    entry = entries[0]
    path = relay.recording_dir(stream_id) / entry["file"]
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entry["audio_frames"] > 25 and entry["video_frames"] == 0
    assert relay.manifest(stream_id) == entries
    with av.open(str(path)) as container:
        assert [s.codec_context.name for s in container.streams] == ["opus"]
        packets = [p for p in container.demux(audio=0) if p.size]
    assert len(packets) == entry["audio_frames"]
