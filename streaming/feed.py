"""A pushing source's handle on its relay stream (a demuxed RTSP/RTMP pull, a GB/T 28181 camera).

``Relay.open_feed`` makes one; the source calls ``push`` for every encoded frame, ``lost`` when it stops
(viewers stay for the reconnect grace in case a new feed takes over the stream) and ``stop`` to end it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from streaming.stream import FeedSink, Stream


class Feed:
    """Push frames, watch ``viewers``, report the source ``lost`` or ``stop`` the stream."""

    def __init__(
        self,
        stream: Stream,
        sink: FeedSink,
        *,
        reconnect_grace: float,
        end: Callable[[], Awaitable[object]],
        end_soon: Callable[[], None],
    ) -> None:
        self._stream = stream
        self._sink = sink
        self._reconnect_grace = reconnect_grace
        self._end = end
        #: Schedules ``end`` from a timer callback (the grace ran out), where nothing can be awaited.
        self._end_soon = end_soon
        self.stream_id = stream.id

    def push(self, kind: str, mime: str, clock_rate: int, data: bytes, timestamp: int) -> None:
        """Forward one complete encoded frame (Annex B access unit for H.264) with its RTP timestamp."""
        self._sink(kind, mime, clock_rate, data, timestamp)

    @property
    def live(self) -> bool:
        return self._stream.live

    @property
    def viewers(self) -> int:
        """WebRTC viewers now (in-process subscribers and the recorder are not counted)."""
        return self._stream.viewer_count

    def lost(self) -> None:
        """The source stopped; viewers stay for the relay's reconnect grace unless a new feed takes over."""
        self._stream.feed_lost(self._sink, self._reconnect_grace, self._end_soon)

    async def stop(self) -> None:
        """End the stream now, unless another feed or publisher has taken it over."""
        if self._stream.live and self._stream.owns(self._sink):
            await self._end()
