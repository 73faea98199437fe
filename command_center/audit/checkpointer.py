"""Write a signed checkpoint of the audit log to every anchor, at start and then every interval.

Runs in each server process (several processes write several lines; each is a true statement). A checkpoint
is written only when the log's head moved since this process's last one, so a quiet system does not grow the
file. If the head moved *backwards* (newest rows deleted) the writer logs an error and writes the new head
anyway: the earlier checkpoint stays in the anchor, and ``audit verify`` reports the truncation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from command_center.audit import service
from command_center.audit.anchor import Anchor, RedisAnchor, anchors
from command_center.audit.chain import Checkpoint, checkpoint_key
from command_center.db import Database, utcnow
from command_center.settings import Settings

log = logging.getLogger(__name__)


class Checkpointer:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        anchor_list: list[Anchor] | None = None,
    ) -> None:
        self.database = database
        self.interval = settings.audit_checkpoint_seconds
        self.key = checkpoint_key(settings.audit_key)
        self.clock = clock
        self.anchors = anchor_list if anchor_list is not None else anchors(settings)
        self.last: tuple[int, str] | None = None
        self._task: asyncio.Task[None] | None = None

    async def write(self) -> Checkpoint | None:
        """Take and store one checkpoint now, if the head moved; return it."""
        async with self.database.session() as session:
            seq, hash_ = await service.head(session)
        if (seq, hash_) == self.last:
            return None
        if self.last is not None and seq < self.last[0]:
            log.error("audit log shrank from entry %d to %d: rows were deleted", self.last[0], seq)
        checkpoint = Checkpoint(seq, hash_, seq, self.clock().isoformat()).signed(self.key)
        for anchor in self.anchors:
            try:
                await anchor.append(checkpoint)
            except (OSError, RedisError):
                log.exception("could not write an audit checkpoint to %s", type(anchor).__name__)
        self.last = (seq, hash_)
        return checkpoint

    async def _run(self) -> None:
        while True:
            try:
                await self.write()
            except (OSError, SQLAlchemyError):
                log.exception("audit checkpoint failed; retrying in %.0f s", self.interval)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="audit-checkpointer")

    async def stop(self) -> None:
        """Stop the loop and take a last checkpoint, so a clean shutdown leaves the newest head anchored."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            with contextlib.suppress(OSError, SQLAlchemyError):
                await self.write()
        for anchor in self.anchors:
            if isinstance(anchor, RedisAnchor):
                await anchor.close()
