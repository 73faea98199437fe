"""Helpers for the streaming tests: real aiortc peers on loopback (imported by conftest and tests)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streaming import Relay, StreamEvent, ice_configuration, read_stamp


class Recorder:
    """A StreamEvents implementation that keeps what it hears."""

    def __init__(self) -> None:
        self.events: list[StreamEvent] = []

    async def on_stream_event(self, event: StreamEvent) -> None:
        self.events.append(event)

    def of(self, type_: str) -> list[StreamEvent]:
        return [e for e in self.events if e.type == type_]


def relay_signal(relay: Relay, **kwargs: Any) -> Callable[[dict[str, Any]], Any]:
    """The in-process equivalent of POST /api/streams."""

    async def signal(offer: dict[str, Any]) -> dict[str, Any]:
        result = await relay.publish(offer["sdp"], stream_id=offer.get("stream_id"), **kwargs)
        return {"id": result.stream_id, "sdp": result.answer_sdp, "type": "answer"}

    return signal


class Viewer:
    """A WebRTC client watching one stream; decodes video (aiortc's stock receiver) and reads stamps."""

    def __init__(self, codecs: list[str] | None = None, audio: bool = False) -> None:
        self.pc = RTCPeerConnection(ice_configuration())
        video = self.pc.addTransceiver("video", direction="recvonly")
        if codecs:
            caps = RTCRtpSender.getCapabilities("video").codecs
            video.setCodecPreferences([c for c in caps if c.mimeType in codecs or c.mimeType == "video/rtx"])
        if audio:
            self.pc.addTransceiver("audio", direction="recvonly")
        self.frames = 0
        self.audio_frames = 0
        self.stamps: list[tuple[int, float]] = []  # (stamped epoch ms, arrival epoch ms)
        self.sizes: set[tuple[int, int]] = set()
        self.first_frame_at: float | None = None
        self.started_at = 0.0
        self.got_frame = asyncio.Event()
        self.codec: str | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        consume = self._consume if track.kind == "video" else self._consume_audio
        self._tasks.append(asyncio.ensure_future(consume(track)))

    async def _consume_audio(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                await track.recv()
                self.audio_frames += 1
        except MediaStreamError:
            pass

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                now = time.time()
                self.frames += 1
                self.sizes.add((frame.width, frame.height))
                if self.first_frame_at is None:
                    self.first_frame_at = now
                stamp = read_stamp(frame)
                if stamp is not None:
                    self.stamps.append((stamp.epoch_ms, now * 1000))
                self.got_frame.set()
        except MediaStreamError:
            pass

    async def watch(self, relay: Relay, stream_id: str) -> None:
        self.started_at = time.time()
        await self.pc.setLocalDescription(await self.pc.createOffer())
        answer = await relay.view(stream_id, self.pc.localDescription.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        video = next(t for t in self.pc.getTransceivers() if t.kind == "video")
        self.codec = video._codecs[0].mimeType if video._codecs else None

    async def wait_frames(self, count: int, timeout: float = 10) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.frames < count:
            if loop.time() > deadline:
                raise AssertionError(f"viewer got {self.frames} frames, wanted {count}")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
