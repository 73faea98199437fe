"""The drill as SimPy processes: the exercise control releasing injects, and the check clocks.

Scenario time is in minutes. The same model runs in synthetic mode (``simulation.synthetic``, responders as
resources) and in live mode (``simulation.live``, clocked from an asyncio task, responders are people).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from typing import Any

import simpy

from simulation.scenario import Check, Inject, Scenario, minutes
from simulation.scoring import TimedAction, check_state

__all__ = ["DrillModel", "stream"]


def stream(seed: int | str, replication: int | str, purpose: str) -> random.Random:
    """Return the random stream for one purpose of one replication (common random numbers).

    Seeding ``random.Random`` with a string hashes it with SHA-512, so the stream is the same on every run
    and platform, and each purpose (``jitter:arrival``, ``duration:phone_report``) draws independently: more
    staff on one role never shifts any other draw. Live drills use replication 0.
    """
    return random.Random(f"{seed}/{replication}/{purpose}")


class DrillModel:
    """Schedule a scenario's injects and check clocks on ``env``.

    ``actions`` is the shared, minute-sorted list of what responders did; ``when`` conditions read it at
    the moment an inject would be released. ``already_released`` maps inject ids to the minute they were
    released before a restart: those are replayed at that minute, without calling ``on_release`` again and
    without re-evaluating their conditions. ``on_release(inject, minute)`` may return a later minute (the
    live engine does so when it releases late, after downtime); children's ``after`` delays count from it.
    """

    def __init__(
        self,
        env: simpy.Environment,
        scenario: Scenario,
        *,
        streams: Callable[[str], random.Random],
        actions: list[TimedAction],
        on_release: Callable[[Inject, float], float] | None = None,
        on_check_start: Callable[[Check, float], None] | None = None,
        already_released: dict[str, float] | None = None,
    ) -> None:
        self.env = env
        self.scenario = scenario
        self.actions = actions
        self.released: dict[str, float] = {}
        self.skipped: set[str] = set()
        self._streams = streams
        self._on_release = on_release
        self._on_check_start = on_check_start
        self._already = dict(already_released or {})
        self._decided: dict[str, simpy.Event] = {inject.id: env.event() for inject in scenario.injects}
        self._checks = {check.id: check for check in scenario.checks}
        for inject in scenario.injects:
            env.process(self.exercise_control(env, inject))
        if on_check_start is not None:
            for check in scenario.checks:
                env.process(self.check_clock(env, check))

    @property
    def all_decided(self) -> bool:
        """Whether every inject has been released or will never be."""
        return len(self.released) + len(self.skipped) == len(self.scenario.injects)

    def jitter(self, inject: Inject) -> float:
        """Draw the inject's release jitter in minutes (the same draw for the same seed, always)."""
        low, high = minutes(inject.jitter.low), minutes(inject.jitter.high)
        return self._streams(f"jitter:{inject.id}").uniform(low, high) if high > low else low

    def exercise_control(self, env: simpy.Environment, inject: Inject) -> Generator[simpy.Event, Any, None]:
        """Release one inject at its time, after its parent, if its condition holds (导调组)."""
        decided = self._decided[inject.id]
        if inject.id in self._already:
            minute = self._already[inject.id]
            if minute > env.now:
                yield env.timeout(minute - env.now)
            self.released[inject.id] = minute
            decided.succeed(minute)
            return
        jitter = self.jitter(inject)
        if inject.after is None:
            due = minutes(inject.at) + jitter if inject.at is not None else jitter
        else:
            parent_minute = yield self._decided[inject.after.inject]
            if parent_minute is None:
                self.skipped.add(inject.id)
                decided.succeed(None)
                return
            due = parent_minute + minutes(inject.after.delay) + jitter
        if due > env.now:
            yield env.timeout(due - env.now)
        if inject.when is not None:
            check = self._checks[inject.when.check]
            start = self.released.get(check.starts.inject)
            if inject.when.status not in check_state(check, start, self.actions, env.now):
                self.skipped.add(inject.id)
                decided.succeed(None)
                return
        minute = env.now
        if self._on_release is not None:
            minute = max(minute, self._on_release(inject, minute))
        self.released[inject.id] = minute
        decided.succeed(minute)

    def check_clock(self, env: simpy.Environment, check: Check) -> Generator[simpy.Event, Any, None]:
        """Start the check's clock when its inject is released (never, if the inject is skipped)."""
        start = yield self._decided[check.starts.inject]
        if start is not None and self._on_check_start is not None:
            self._on_check_start(check, start)
