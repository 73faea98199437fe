"""Pull ingest: an RTSP or RTMP source demuxed by PyAV and forwarded into the relay untranscoded.

``Puller.start(url)`` opens the source once (so a wrong address, a refused connection or an H.265 camera
is the caller's error at once), then keeps it flowing in a task of its own: when the source ends or fails
it reconnects with exponential backoff under the same stream id, so viewers keep their tracks. If the
outage outlasts the relay's reconnect grace the stream ends, and the next successful reconnection starts a
new stream, which ``on_new_stream`` announces. ``stop(stream_id)`` ends both the pull and the stream.
Which URLs may be opened is the application's decision (an allow-list); this module opens what it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import av
import av.container

from streaming.errors import StreamingError, UnknownStream
from streaming.feed import Feed
from streaming.packet_source import PacketSource, SourceError, forward_into
from streaming.relay import Relay

logger = logging.getLogger(__name__)

SCHEMES = ("rtsp://", "rtmp://")
#: ``on_new_stream(old_stream_id, new_stream_id)`` after an outage ended the old stream.
OnNewStream = Callable[[str, str], Awaitable[None]]


def open_url(url: str, timeout: float = 10.0) -> av.container.InputContainer:
    """Open an RTSP (over TCP: no UDP ports to open through firewalls) or RTMP source with a timeout."""
    micros = str(int(timeout * 1_000_000))
    options = (
        {"rtsp_transport": "tcp", "timeout": micros} if url.startswith("rtsp://") else {"rw_timeout": micros}
    )
    return av.open(url, options=options, timeout=timeout)


@dataclass
class Pull:
    """One pulled source; ``stream_id`` follows the stream it currently feeds."""

    url: str
    stream_id: str
    codec: str
    reconnects: int = 0
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    source: PacketSource | None = field(default=None, repr=False)
    stopped: bool = False


class Puller:
    """The pulls of one relay; the application makes one in its lifespan and closes it there."""

    def __init__(
        self,
        relay: Relay,
        *,
        opener: Callable[[str], av.container.InputContainer] = open_url,
        min_backoff: float = 0.5,
        max_backoff: float = 15.0,
        on_new_stream: OnNewStream | None = None,
    ) -> None:
        self._relay = relay
        self._opener = opener
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self.on_new_stream = on_new_stream
        self._pulls: dict[str, Pull] = {}

    async def start(self, url: str, *, record: bool = True, metadata: dict[str, Any] | None = None) -> Pull:
        """Open ``url`` and start forwarding; raises ``SourceError`` / ``UnsupportedCodec`` if it cannot."""
        if not url.startswith(SCHEMES):
            raise StreamingError(f"pull sources are rtsp:// or rtmp:// URLs, not {url.split(':', 1)[0]}")
        source = self._source(url)
        feed, pumping = await self._begin(source, None, record, metadata or {})
        pull = Pull(url, feed.stream_id, source.mime_type or "", source=source)
        self._pulls[pull.stream_id] = pull
        pull.task = asyncio.ensure_future(self._keep_pulling(pull, pumping, record, metadata or {}))
        return pull

    async def _begin(
        self, source: PacketSource, stream_id: str | None, record: bool, metadata: dict[str, Any]
    ) -> tuple[Feed, asyncio.Future[Feed]]:
        """Open ``source`` and feed a stream; return once frames flow into it (or raise why not)."""
        started: asyncio.Future[Feed] = asyncio.get_running_loop().create_future()
        pumping = asyncio.ensure_future(
            forward_into(
                self._relay,
                source,
                stream_id=stream_id,
                record=record,
                metadata=metadata,
                on_started=started.set_result,
            )
        )
        await asyncio.wait({started, pumping}, return_when=asyncio.FIRST_COMPLETED)
        if not started.done():
            await pumping  # it failed before the stream existed: raise its error
            raise SourceError("the source ended before its first packet")
        return started.result(), pumping

    def get(self, stream_id: str) -> Pull | None:
        return self._pulls.get(stream_id)

    async def stop(self, stream_id: str) -> bool:
        """Stop pulling and end the stream; False if no pull feeds ``stream_id``."""
        pull = self._pulls.pop(stream_id, None)
        if pull is None:
            return False
        pull.stopped = True
        if pull.source is not None:
            pull.source.stop()
        if pull.task is not None:
            pull.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pull.task
        with contextlib.suppress(UnknownStream):
            await self._relay.stop(pull.stream_id)
        return True

    async def close(self) -> None:
        for stream_id in list(self._pulls):
            await self.stop(stream_id)

    def _source(self, url: str) -> PacketSource:
        return PacketSource(lambda: self._opener(url), name=f"pull-{url.rsplit('/', 1)[-1][:20]}")

    async def _keep_pulling(
        self, pull: Pull, pumping: asyncio.Future[Feed], record: bool, metadata: dict[str, Any]
    ) -> None:
        delay = self._min_backoff
        while not pull.stopped:
            try:
                await pumping
                logger.info("pull %s: the source ended; reconnecting", pull.stream_id)
            except StreamingError as exc:
                logger.info("pull %s: source lost (%s); reconnecting", pull.stream_id, exc.detail)
            while not pull.stopped:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_backoff)
                source = self._source(pull.url)
                pull.source = source
                stream_id: str | None = pull.stream_id
                try:
                    self._relay.get(pull.stream_id)
                except UnknownStream:
                    stream_id = None  # the outage outlasted the grace: the old stream ended
                try:
                    feed, pumping = await self._begin(source, stream_id, record, metadata)
                except StreamingError as exc:
                    logger.info("pull %s: source not back yet (%s)", pull.stream_id, exc.detail)
                    continue
                break
            else:
                return
            pull.reconnects += 1
            delay = self._min_backoff
            if feed.stream_id != pull.stream_id:
                old, pull.stream_id = pull.stream_id, feed.stream_id
                self._pulls.pop(old, None)
                self._pulls[pull.stream_id] = pull
                if self.on_new_stream is not None:
                    await self.on_new_stream(old, pull.stream_id)
