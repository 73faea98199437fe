"""The viewer side of the relay: bounded, keyframe-gated tracks that hand encoded frames to aiortc.

A live viewer must never watch the past: when a viewer's sender falls behind, its queue is emptied and it
waits for the next keyframe (asking the publisher for one) instead of growing memory and latency, which is
what ``MediaRelay`` does by default (aiortc#498, #898).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streaming.frames import EncodedFrame
from streaming.rtp_out import RtpOutlet

#: Turns a frame into its RTP payloads and timestamp (``EncodedFrame.opus_payloads``); made once per frame
#: and shared by every listener.
Packetize = Callable[[EncodedFrame], tuple[list[bytes], int]]

logger = logging.getLogger(__name__)

#: About one second of video at 30 fps; a viewer further behind than this is resynchronised.
VIDEO_QUEUE_FRAMES = 30
#: 50 Opus frames of 20 ms; the oldest are dropped when full.
AUDIO_QUEUE_FRAMES = 50


class KeyframeRequester:
    """Ask the publisher for keyframes at most once per ``min_interval``, retrying until one arrives.

    Requests inside the interval are coalesced into one sent when it ends, so a burst of joining viewers
    costs the publisher one keyframe, and a joiner still gets a picture within about a second. A request
    whose keyframe never comes (lost PLI, lost keyframe) is repeated after ``retry_after``.
    """

    def __init__(
        self,
        send: Callable[[], bool],
        *,
        min_interval: float = 0.3,
        retry_after: float = 0.7,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._min_interval = min_interval
        self._retry_after = retry_after
        self._clock = clock
        self._last_sent = -1e9
        self._wanted = False
        self._timer: asyncio.TimerHandle | None = None
        self.sent = 0

    def request(self) -> None:
        """Want a keyframe soon; cheap to call often."""
        self._wanted = True
        if self._timer is None:
            self._fire()

    def keyframe_arrived(self) -> None:
        self._wanted = False
        # Drop the pending retry, or a viewer joining just after this keyframe would wait for it.
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wanted = False

    def _fire(self) -> None:
        self._timer = None
        if not self._wanted:
            return
        wait = self._last_sent + self._min_interval - self._clock()
        if wait <= 0:
            if self._send():
                self._last_sent = self._clock()
                self.sent += 1
            wait = self._retry_after
        self._timer = asyncio.get_running_loop().call_later(wait, self._fire)


class ForwardingTrack(MediaStreamTrack):
    """A viewer's track: ``recv()`` returns encoded ``av.Packet`` objects, so the sender only packetizes.

    Frames offered before the sender starts (its first ``recv()``) are ignored (nothing is buffered for a
    viewer that is still connecting). The start begins with ``start_frames()`` when that returns a GOP
    (a source that cannot be asked for a keyframe, see ``gop_cache``), and otherwise asks for a keyframe;
    video is only forwarded from a keyframe on, so a viewer's decoder never starts on a frame it cannot
    decode.

    Direct mode (made with ``packetize``, its sender set up by ``aiortc_internals.send_rtp_directly``): the
    sender never calls ``recv()``; when it starts it ``attach``es an ``RtpOutlet`` and every frame the
    stream offers is packetized and written to the listener right away, inside the stream's one pass over
    its listeners, instead of waking a sender coroutine per listener and packet. Nothing is queued, so
    there is nothing to fall behind on; the gating above applies the same way.
    """

    def __init__(
        self,
        kind: str,
        *,
        on_keyframe_needed: Callable[[], None] = lambda: None,
        start_frames: Callable[[], list[EncodedFrame]] | None = None,
        max_queue: int | None = None,
        packetize: Packetize | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self._on_keyframe_needed = on_keyframe_needed
        self._start_frames = start_frames
        self._max_queue = max_queue or (VIDEO_QUEUE_FRAMES if kind == "video" else AUDIO_QUEUE_FRAMES)
        self._packetize = packetize
        #: Direct mode, once the sender started: where frames go instead of the queue.
        self._outlet: RtpOutlet | None = None
        # A deque and one waiter rather than an ``asyncio.Queue``: this runs once per packet and viewer,
        # and the queue's bookkeeping (unfinished tasks, its event, putters) was a visible share of it.
        self._queue: deque[EncodedFrame | None] = deque()
        self._waiter: asyncio.Future[None] | None = None
        #: The joiner's cached GOP, sent before anything queued (outside the queue's bound: it is one GOP).
        self._burst: deque[EncodedFrame] = deque()
        self._started = False
        self._waiting_keyframe = kind == "video"
        self.frames_sent = 0
        self.frames_dropped = 0
        self.resyncs = 0
        #: Frames this viewer started with from its stream's cached GOP (0: it waited for a keyframe).
        self.gop_frames = 0
        self.first_frame_at: float | None = None
        #: Seconds each of the last frames waited in the relay (tap to sender), for health and benchmarks.
        self.recent_delays: deque[float] = deque(maxlen=100)

    @property
    def queue_size(self) -> int:
        return len(self._queue)

    @property
    def max_queue(self) -> int:
        return self._max_queue

    def offer(self, frame: EncodedFrame) -> None:
        """Queue a frame for this viewer without ever blocking or growing past ``max_queue``."""
        if not self._started or self.readyState != "live":
            return
        if self._waiting_keyframe:
            if not frame.keyframe:
                self.frames_dropped += 1
                return
            self._waiting_keyframe = False
        if len(self._queue) >= self._max_queue:
            self._overflow()
            if self._waiting_keyframe and not frame.keyframe:
                self.frames_dropped += 1
                return
            self._waiting_keyframe = False
        self._put(frame)

    @property
    def direct(self) -> bool:
        """Whether frames bypass ``recv()`` and go straight to the sender's ``RtpOutlet``."""
        return self._packetize is not None

    def attach(self, outlet: RtpOutlet) -> None:
        """Direct mode: the sender started; send from now on (the cached GOP first) through ``outlet``."""
        if self._packetize is None:
            raise ValueError("attach() needs a track made with packetize= (direct mode)")
        if self._started:
            raise ValueError(f"track {self.id} already started; one sender per track")
        self._outlet = outlet
        self._start()
        while self._burst and self._outlet is outlet:
            self._send(self._burst.popleft())

    def detach(self, outlet: RtpOutlet) -> None:
        """The sender stopped: nothing more goes to ``outlet``."""
        if self._outlet is outlet:
            self._outlet = None

    def _send(self, frame: EncodedFrame) -> None:
        outlet, packetize = self._outlet, self._packetize
        if outlet is None or packetize is None:
            return
        try:
            sent = outlet.send(*packetize(frame))
        except Exception:
            # As aiortc's sender loop does on an unexpected error: this listener stops, the others go on.
            logger.warning("viewer track %s: sending failed; stopping it", self.id, exc_info=True)
            self.stop()
            return
        if sent:
            self._count_sent(frame)

    def _count_sent(self, frame: EncodedFrame) -> None:
        self.frames_sent += 1
        if self.first_frame_at is None:
            self.first_frame_at = time.time()
        if self.kind == "video":  # the relay's forwarding delay is measured on video (health, benchmarks)
            self.recent_delays.append(time.time() - frame.received_at)

    def _put(self, frame: EncodedFrame | None) -> None:
        if self._outlet is not None:
            if frame is not None:
                self._send(frame)
            return
        self._queue.append(frame)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def need_keyframe(self) -> None:
        """Resynchronise: drop what is queued and restart at the next keyframe (video only)."""
        if self.kind == "video":
            self._waiting_keyframe = True
            self._on_keyframe_needed()

    def _overflow(self) -> None:
        self.resyncs += 1
        if self.kind == "video":
            self.frames_dropped += len(self._burst) + len(self._queue)
            self._burst.clear()
            self._queue.clear()
            logger.debug("viewer track %s fell behind; waiting for a keyframe", self.id)
            self.need_keyframe()
        else:
            self._queue.popleft()
            self.frames_dropped += 1

    async def recv(self) -> av.Packet[Any]:
        """The next frame's ``av.Packet`` (queue mode; a direct-mode track's sender never calls this)."""
        if self.readyState != "live":
            raise MediaStreamError
        if not self._started:
            self._start()
        if self._burst:
            frame: EncodedFrame | None = self._burst.popleft()
        else:
            while not self._queue:
                self._waiter = asyncio.get_running_loop().create_future()
                await self._waiter
            frame = self._queue.popleft()
        if frame is None:
            raise MediaStreamError
        self._count_sent(frame)
        return frame.packet

    def _start(self) -> None:
        """The sender started: from now on frames are taken; begin with a GOP or a keyframe."""
        self._started = True
        if self.kind != "video":
            return
        self._burst.extend(self._start_frames() if self._start_frames is not None else ())
        self.gop_frames = len(self._burst)
        if self._burst:
            self._waiting_keyframe = False
        else:
            self._on_keyframe_needed()

    def stop(self) -> None:
        if self.readyState == "live":
            self._outlet = None
            self._burst.clear()
            # Wake a sender blocked in recv() so it can exit.
            self._queue.clear()
            self._put(None)
        super().stop()
