"""The relay's stream events on their way to the application: one bounded queue, one delivering task.

Events reach ``StreamEvents.on_stream_event`` in the order they happened, however slow the handler (it
writes to a database); a full queue drops the newest event with a warning rather than stall forwarding,
and a failing handler is logged and skipped. Health is sampled here too, every ``health_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from streaming.events import EventType, StreamEvent, StreamEvents
from streaming.stream import Stream

logger = logging.getLogger(__name__)


class EventPump:
    """Queue and deliver one relay's events, sample its streams' health; started by the first stream."""

    def __init__(
        self,
        events: StreamEvents | None,
        streams: Callable[[], Iterable[Stream]],
        *,
        health_interval: float,
        capacity: int = 1000,
    ) -> None:
        self._events = events
        self._streams = streams
        self._health_interval = health_interval
        self._queue: asyncio.Queue[StreamEvent] = asyncio.Queue(capacity)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.ensure_future(self._deliver()),
                asyncio.ensure_future(self._sample_health()),
            ]

    def emit(self, stream: Stream | None, type_: EventType, data: dict[str, Any]) -> None:
        if stream is None or self._events is None:
            return
        event = StreamEvent(type_, stream.id, datetime.now(UTC), stream.info(), data)
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            logger.warning("stream event queue full; dropping %s for %s", type_, stream.id)

    async def close(self, drain_timeout: float = 5.0) -> None:
        """Deliver what is queued (for up to ``drain_timeout`` seconds), then stop."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._queue.join(), drain_timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _deliver(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                if self._events is not None:
                    await self._events.on_stream_event(event)
            except Exception:
                logger.exception("stream event handler failed on %s", event.type)
            finally:
                self._queue.task_done()

    async def _sample_health(self) -> None:
        while True:
            await asyncio.sleep(self._health_interval)
            for stream in list(self._streams()):
                if stream.live:
                    health = await stream.sample_health()
                    self.emit(stream, "health", asdict(health))
