"""The background task that sweeps deadlines every few seconds, started and stopped by the app lifespan."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from command_center.db import Database, utcnow
from command_center.deadlines.service import MissHandler, anything_due, sweep
from command_center.events import Publisher, unit_of_work
from command_center.periodic import Periodic


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
        self._on_missed = on_missed
        self._clock = clock
        self._periodic = Periodic("deadline-sweeper", self.run_once, interval)

    async def run_once(self) -> int:
        now = self._clock()
        # Most sweeps find nothing: finding that out takes no write lock (on SQLite a write transaction
        # every few seconds queued requests' writes behind it); the claim in ``sweep`` is still atomic.
        async with self._database.read_session() as reader:
            if not await anything_due(reader, now=now):
                return 0
        async with unit_of_work(self._database, self._publisher) as session:
            return await sweep(session, now=now, on_missed=self._on_missed)

    def start(self) -> None:
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
