"""The background task that sweeps deadlines every few seconds, started and stopped by the app lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from command_center.db import Database, utcnow
from command_center.deadlines.service import MissHandler, sweep
from command_center.events import Publisher, unit_of_work

log = logging.getLogger(__name__)


class DeadlineSweeper:
    def __init__(
        self,
        database: Database,
        publisher: Publisher | None,
        *,
        interval: float,
        on_missed: Mapping[str, MissHandler],
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._database = database
        self._publisher = publisher
        self._interval = interval
        self._on_missed = on_missed
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> int:
        async with unit_of_work(self._database, self._publisher) as session:
            return await sweep(session, now=self._clock(), on_missed=self._on_missed)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("deadline sweep failed; retrying in %.1f s", self._interval)
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="deadline-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
