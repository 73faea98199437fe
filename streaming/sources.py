"""Media sources for the field publisher: a synthetic clock picture, or a file (aiortc MediaPlayer)."""

from __future__ import annotations

import time

from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamTrack, VideoStreamTrack
from av import VideoFrame

from streaming.stamp import stamp_frame


class SyntheticVideoTrack(VideoStreamTrack):
    """30 fps frames stamped with the wall-clock time at which each was produced (see ``stamp``)."""

    def __init__(self, width: int = 640, height: int = 480) -> None:
        super().__init__()
        self.width = width
        self.height = height
        self.counter = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = stamp_frame(int(time.time() * 1000), self.counter, self.width, self.height)
        frame.pts = pts
        frame.time_base = time_base
        self.counter += 1
        return frame


def open_source(source: str) -> tuple[list[MediaStreamTrack], MediaPlayer | None]:
    """Return the tracks to publish for ``synthetic`` or a media file path, and the player to stop later."""
    if source == "synthetic":
        return [SyntheticVideoTrack()], None
    player = MediaPlayer(source, loop=True)
    tracks = [track for track in (player.video, player.audio) if track is not None]
    return tracks, player
