"""Live drills: the SimPy model clocked from an asyncio task, injects sent through a ``DrillSink``.

Nothing here sleeps on the event loop: each ``step`` reads the clock, takes in the actions observed since the
last step, runs a plain ``simpy.Environment`` up to the current scenario time and hands the resulting events
to the sink. Scenario time is ``(wall - started_at) * time_scale`` (``time_scale=60`` runs an hour in a
minute). Actions keep their own wall-clock time whoever reports them and whenever they arrive.

Restart: a drill is rebuilt from (scenario, seed, started_at, released injects, observed actions). Jitter is
drawn from the seed, already-released injects are replayed silently at their recorded times, and a
branching inject that fell due while the process was down is decided from the log as of its due time and,
if it fires, is released at once and stamped with the actual time, so check clocks only start when the
responders really got it. Check statuses are recomputed from the log, so after a restart the current status
of every check is emitted once more; injects never are.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import queue
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import simpy

from simulation.engine import DrillModel, stream
from simulation.events import InjectReleased, ObservedAction
from simulation.scenario import Inject, Scenario
from simulation.scoring import DrillScore, TimedAction, score_minutes

__all__ = [
    "CheckStatusChanged",
    "DrillFinished",
    "DrillSink",
    "InjectFired",
    "LiveDrill",
    "LiveEvent",
    "ScoreUpdated",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class InjectFired:
    """An inject is released now; store ``record`` to rebuild the drill after a restart."""

    inject: Inject
    record: InjectReleased


@dataclass(frozen=True, slots=True)
class CheckStatusChanged:
    """A check's status (not_started, open, done, missed) or rating changed."""

    check_id: str
    status: str
    rating: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class ScoreUpdated:
    """The provisional score changed (open checks are not yet counted)."""

    score: DrillScore
    at: datetime


@dataclass(frozen=True, slots=True)
class DrillFinished:
    """The drill is over: ``reason`` is ``completed`` or the reason given to ``stop``."""

    score: DrillScore
    at: datetime
    reason: str


LiveEvent = InjectFired | CheckStatusChanged | ScoreUpdated | DrillFinished


class DrillSink(Protocol):
    """Where a live drill sends its events; ``command_center`` implements it."""

    async def emit(self, event: LiveEvent) -> None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LiveDrill:
    """Run one scenario in real (or compressed) time against the live system."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int | str,
        started_at: datetime,
        sink: DrillSink,
        time_scale: float = 1.0,
        clock: Callable[[], datetime] = _utc_now,
        released: Iterable[InjectReleased] = (),
        actions: Iterable[ObservedAction] = (),
        tick_seconds: float = 0.5,
    ) -> None:
        if started_at.tzinfo is None:
            raise ValueError("started_at must be timezone-aware")
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.scenario = scenario
        self.seed = seed
        self.started_at = started_at
        self.time_scale = time_scale
        self._sink = sink
        self._clock = clock
        self._tick = tick_seconds
        self._late_after = timedelta(seconds=2 * tick_seconds + 1)
        self._inbox: queue.SimpleQueue[ObservedAction] = queue.SimpleQueue()
        self._observed: list[ObservedAction] = []
        self._seen: set[ObservedAction] = set()
        self._timed: list[TimedAction] = []
        self._records: list[InjectReleased] = []
        self._pending: list[LiveEvent] = []
        self._statuses: dict[str, tuple[str, str | None]] = {}
        self._last_score: tuple[float | None, str | None] | None = None
        self._now = clock()
        self._minute = self.minute(self._now)
        self._stop_reason: str | None = None
        self._final: DrillScore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        for action in actions:
            self._take(action)
        already: dict[str, float] = {}
        for record in released:
            if record.inject_id not in already:
                already[record.inject_id] = self.minute(record.at)
                self._records.append(record)
        self._env = simpy.Environment()
        self._model = DrillModel(
            self._env,
            scenario,
            streams=lambda purpose: stream(seed, 0, purpose),
            actions=self._timed,
            on_release=self._on_release,
            already_released=already,
        )

    # -- time -------------------------------------------------------------------------------------------
    def minute(self, at: datetime) -> float:
        """Scenario minutes at wall-clock time ``at``."""
        return (at - self.started_at).total_seconds() / 60.0 * self.time_scale

    def wall(self, minute: float) -> datetime:
        """Wall-clock time at scenario minute ``minute``."""
        return self.started_at + timedelta(minutes=minute / self.time_scale)

    # -- state ------------------------------------------------------------------------------------------
    @property
    def released(self) -> list[InjectReleased]:
        """Every inject released so far, in order (including those replayed after a restart)."""
        return list(self._records)

    @property
    def actions(self) -> list[ObservedAction]:
        """Every action taken in so far, in time order."""
        return list(self._observed)

    @property
    def finished(self) -> bool:
        return self._final is not None

    @property
    def final_score(self) -> DrillScore | None:
        return self._final

    def score(self, now: datetime | None = None) -> DrillScore:
        """The score from the log as known now (provisional) or, with the drill finished, the final one."""
        if self._final is not None:
            return self._final
        at = self.minute(now or self._now)
        return score_minutes(self.scenario, self._model.released, self._timed, now=at)

    # -- input ------------------------------------------------------------------------------------------
    def observe(self, action: ObservedAction) -> None:
        """Record an action; safe from any thread or task. Its own ``at`` is kept, never the arrival time."""
        self._inbox.put(action)
        self._wake_up()

    def stop(self, reason: str = "stopped") -> None:
        """End the drill at the next step (a real-world stop); open checks are left unscored."""
        self._stop_reason = reason
        self._wake_up()

    def _wake_up(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop is closed; the next step (if any) reads the inbox
                pass

    def _take(self, action: ObservedAction) -> None:
        if action in self._seen:
            return
        self._seen.add(action)
        bisect.insort_right(self._observed, action, key=lambda item: item.at)
        timed = TimedAction(
            self.minute(action.at), action.action, action.fields, action.department, action.role
        )
        bisect.insort_right(self._timed, timed, key=lambda item: item.minute)

    def _on_release(self, inject: Inject, minute: float) -> float:
        due = self.wall(minute)
        at = due if self._now - due <= self._late_after else self._now
        record = InjectReleased(inject.id, at)
        self._records.append(record)
        self._pending.append(InjectFired(inject, record))
        return self.minute(at)

    # -- driving ----------------------------------------------------------------------------------------
    async def step(self) -> None:
        """Advance to the clock's current time and deliver the resulting events to the sink."""
        if self._final is not None:
            await self._flush()  # what the sink refused before is offered again
            return
        self._now = self._clock()
        while True:
            try:
                self._take(self._inbox.get_nowait())
            except queue.Empty:
                break
        target = self.minute(self._now)
        self._minute = target
        while self._env.peek() <= target:  # events due exactly now are processed now, too
            self._env.step()
        current = score_minutes(self.scenario, self._model.released, self._timed, now=target)
        for item in current.checks:
            state = (item.status, item.rating)
            if self._statuses.get(item.check_id) != state:
                self._statuses[item.check_id] = state
                self._pending.append(CheckStatusChanged(item.check_id, item.status, item.rating, self._now))
        summary = (current.overall, current.rating)
        if summary != self._last_score:
            self._last_score = summary
            self._pending.append(ScoreUpdated(current, self._now))
        if self._stop_reason is not None:
            self._finish(current, self._stop_reason)
        elif self._model.all_decided and all(item.status != "open" for item in current.checks):
            self._finish(score_minutes(self.scenario, self._model.released, self._timed), "completed")
        await self._flush()

    def _finish(self, final: DrillScore, reason: str) -> None:
        self._final = final
        self._pending.append(DrillFinished(final, self._now, reason))

    @property
    def delivered(self) -> bool:
        """Whether the sink has taken every event so far (a refused one is offered again at each step)."""
        return not self._pending

    async def _flush(self) -> None:
        """Offer each pending event to the sink; one it refuses stays pending and is offered at the next step.

        A refused inject is never dropped (a drill that silently loses its incident is worse than one that
        is late and says why in the log), and one refused event does not hold back the others.
        """
        pending, self._pending = self._pending, []
        for event in pending:
            try:
                await self._sink.emit(event)
            except Exception:  # the sink is the live system: any failure is logged and retried, not lost
                log.exception("drill sink failed on %s; offered again at the next step", type(event).__name__)
                self._pending.append(event)

    async def run(self) -> DrillScore:
        """Drive the drill until it finishes or is stopped; returns the final score."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        try:
            while True:
                await self.step()
                if self._final is not None and not any(isinstance(e, DrillFinished) for e in self._pending):
                    if self._pending:
                        log.error("drill over; %d events the sink refused are given up", len(self._pending))
                    return self._final
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._sleep_seconds())
                except TimeoutError:
                    pass
                self._wake.clear()
        finally:
            self._loop = self._wake = None

    def _sleep_seconds(self) -> float:
        upcoming = self._env.peek()
        if upcoming == float("inf"):
            return self._tick
        wait = (upcoming - self._minute) * 60.0 / self.time_scale
        return max(0.01, min(self._tick, wait))
