"""A cascade that heals itself: keep a pulled stream fed across restarts of either centre.

``CascadeLink`` pulls a stream from another relay (``Relay.pull`` with a ``signal`` reaching the source's
view endpoint) and then watches it: when the upstream fails or stays silent for ``stale_after`` seconds
(a restarted source's connection can take tens of seconds to be declared failed), it pulls again into the
same stream id with exponential backoff, so this centre's viewers keep their tracks. A source that answers
``UnknownStream`` is retried too: its publisher may be about to reconnect. ``adopt`` revives a stream id
this relay does not hold, which is how a restarted centre resumes the cascades it had.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from streaming.errors import StreamingError, UnknownStream
from streaming.relay import Relay, Signal

logger = logging.getLogger(__name__)


class CascadeLink:
    def __init__(
        self,
        relay: Relay,
        signal: Signal,
        *,
        metadata: dict[str, Any] | None = None,
        record: bool = True,
        stale_after: float = 3.0,
        min_backoff: float = 0.5,
        max_backoff: float = 15.0,
        check_every: float = 0.5,
    ) -> None:
        self._relay = relay
        self._signal = signal
        self._metadata = metadata or {}
        self._record = record
        self._stale_after = stale_after
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._check_every = check_every
        self._task: asyncio.Task[None] | None = None
        self.stream_id: str | None = None
        self.reconnects = 0

    async def start(self, stream_id: str | None = None, *, adopt: bool = False) -> str:
        """Pull once (raising what the source answered), then keep the stream fed in the background."""
        result = await self._relay.pull(
            self._signal, stream_id=stream_id, record=self._record, metadata=self._metadata, adopt=adopt
        )
        self.stream_id = result.stream_id
        self._task = asyncio.ensure_future(self._supervise())
        return result.stream_id

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _supervise(self) -> None:
        assert self.stream_id is not None
        delay = self._min_backoff
        while True:
            await asyncio.sleep(self._check_every)
            try:
                info = self._relay.get(self.stream_id)
                silent = self._relay.silence(self.stream_id)
            except UnknownStream:
                return  # the stream was stopped here (or outlived its grace): nothing left to feed
            if info.connected and silent < self._stale_after:
                delay = self._min_backoff
                continue
            try:
                await self._relay.pull(
                    self._signal, stream_id=self.stream_id, record=self._record, metadata=self._metadata
                )
                self.reconnects += 1
                logger.info("cascade %s: upstream pulled again", self.stream_id)
                await asyncio.sleep(self._stale_after)  # let media start before judging it again
                delay = self._min_backoff
            except UnknownStream as exc:
                if exc.stream_id == self.stream_id:
                    return  # our own stream ended meanwhile
                logger.info("cascade %s: the source has no such stream yet; retrying", self.stream_id)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
            except StreamingError as exc:
                logger.info("cascade %s: source unreachable (%s); retrying", self.stream_id, exc.detail)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
