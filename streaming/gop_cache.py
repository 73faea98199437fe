"""The frames since a stream's latest keyframe, so a viewer joining mid-GOP gets a picture at once.

A pulled camera (RTSP/RTMP) cannot be asked for a keyframe: without a cache a new viewer waits for the
camera's next one, up to a whole GOP (1-4 s on typical cameras). Media servers keep the current GOP and
send it to a joiner first; so does the relay, for sources that push frames themselves.

The joiner gets the cached frames with their timestamps squeezed into the last few RTP ticks before the
newest one: its decoder needs every frame from the keyframe on to rebuild the picture, but it should
show the *present*, not replay the last second at normal speed and stay a GOP behind live for good.
"""

from __future__ import annotations

import time
from dataclasses import replace

from streaming.frames import EncodedFrame

#: Enough for a 10 s GOP at 30 fps; a longer GOP is not cached (joiners then wait for a keyframe).
MAX_FRAMES = 300
#: A 4 Mbit/s camera with a 10 s GOP; beyond it the GOP is not cached either.
MAX_BYTES = 5 * 1024 * 1024


class GopCache:
    """One video stream's frames from its latest keyframe on, within ``max_frames`` and ``max_bytes``."""

    def __init__(self, *, max_frames: int = MAX_FRAMES, max_bytes: int = MAX_BYTES) -> None:
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._frames: list[EncodedFrame] = []
        self._bytes = 0

    def add(self, frame: EncodedFrame) -> None:
        """Take the stream's next video frame: a keyframe starts a new GOP, others extend the current one."""
        if frame.keyframe:
            self._frames = [frame]
            self._bytes = len(frame.data)
            return
        if not self._frames:
            return  # no keyframe since the start, or the GOP outgrew the bounds: nothing decodable to keep
        self._frames.append(frame)
        self._bytes += len(frame.data)
        if len(self._frames) > self._max_frames or self._bytes > self._max_bytes:
            self.clear()

    def clear(self) -> None:
        """Forget the GOP (a new upstream's frames do not continue it)."""
        self._frames = []
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._frames)

    def burst(self) -> list[EncodedFrame]:
        """The cached GOP for one joiner, keyframe first, timestamps squeezed to end at the newest frame's.

        The copies share the frames' bytes; each has its own ``av.Packet`` (its timestamp differs from the
        one every other viewer was sent), made once per joiner, not per packet.
        """
        if not self._frames:
            return []
        last = len(self._frames) - 1
        newest = self._frames[last].timestamp
        now = time.time()
        return [
            replace(frame, timestamp=newest - (last - index), received_at=now, _packet=None)
            for index, frame in enumerate(self._frames)
        ]
