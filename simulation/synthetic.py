"""Synthetic drills: responders as SimPy resources, Monte Carlo over replications with common random numbers.

The responder model, kept simple on purpose:
- each role is a ``PriorityResource`` with ``synthetic.staff[role]`` responders (1 if the role is not
  listed; ``--staff ROLE=N`` overrides);
- when a check's clock starts, its ``owner_role`` takes on the work: it waits for a free responder (earlier
  stages first, then first come first served), works for a time drawn from
  ``synthetic.response_time[action]`` and then performs the action;
- each required field is left out with probability ``synthetic.field_omission[action]`` (default 0);
- a check whose action has no response-time distribution is *not modelled*: nobody performs it, it is shown
  as such and left out of the overall score.
Every draw comes from its own stream keyed by (seed, replication, purpose), so two staffing levels run with
the same seed see the same jitters, durations and omissions and can be compared replication by replication.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

import simpy

from simulation.engine import DrillModel, stream
from simulation.errors import SimulationError
from simulation.scenario import STAGES, Check, Scenario
from simulation.scoring import DrillScore, TimedAction, score_minutes
from simulation.stats import Estimate, mean_ci

__all__ = [
    "MonteCarlo",
    "Replication",
    "compare_staffing",
    "modelled_checks",
    "responder",
    "run_replication",
    "sample",
    "simulate",
    "staffing",
]


def sample(dist: Any, rng: random.Random) -> float:
    """Draw minutes from a scenario distribution (lognormal, exponential, uniform, triangular, fixed)."""
    kind = dist.dist
    if kind == "lognormal":
        return rng.lognormvariate(math.log(dist.median), dist.sigma)
    if kind == "exponential":
        return rng.expovariate(1.0 / dist.mean)
    if kind == "uniform":
        return rng.uniform(dist.low, dist.high)
    if kind == "triangular":
        return rng.triangular(dist.low, dist.high, dist.mode)
    return float(dist.value)


def responder(
    env: simpy.Environment,
    staff: simpy.PriorityResource,
    priority: int,
    duration: float,
    done: Callable[[float], None],
    started: Callable[[float], None] | None = None,
) -> Generator[simpy.Event, Any, None]:
    """One responder of a role takes a piece of work: wait for a free hand, work, report it done."""
    with staff.request(priority=priority) as request:
        yield request
        if started is not None:
            started(env.now)
        yield env.timeout(duration)
    done(env.now)


def staffing(scenario: Scenario, overrides: Mapping[str, int] | None = None) -> dict[str, int]:
    """Return the responders per role: the scenario's staff, 1 for unlisted owner roles, then overrides."""
    base = dict(scenario.synthetic.staff) if scenario.synthetic else {}
    for check in scenario.checks:
        base.setdefault(check.owner_role, 1)
    for role, count in (overrides or {}).items():
        if count < 1:
            raise SimulationError(f"staff for {role!r} must be at least 1, got {count}")
        base[role] = count
    return base


def modelled_checks(scenario: Scenario) -> set[str]:
    """Return the ids of checks whose action has a response-time distribution."""
    times = scenario.synthetic.response_time if scenario.synthetic else {}
    return {check.id for check in scenario.checks if check.action in times}


@dataclass(frozen=True, slots=True)
class Replication:
    """One synthetic run: its score and the inject release minutes."""

    replication: int
    score: DrillScore
    released: dict[str, float]


def run_replication(
    scenario: Scenario,
    *,
    seed: int | str,
    replication: int,
    staff: Mapping[str, int] | None = None,
    env_factory: Callable[[], simpy.Environment] = simpy.Environment,
) -> Replication:
    """Run one synthetic replication to the end and score it."""
    env = env_factory()
    roles = staffing(scenario, staff)
    resources = {role: simpy.PriorityResource(env, capacity=count) for role, count in roles.items()}
    synthetic = scenario.synthetic
    times = synthetic.response_time if synthetic else {}
    omission = synthetic.field_omission if synthetic else {}
    actions: list[TimedAction] = []

    def streams(purpose: str) -> random.Random:
        return stream(seed, replication, purpose)

    def start(check: Check, minute: float) -> None:
        dist = times.get(check.action)
        if dist is None:
            return
        duration = sample(dist, streams(f"duration:{check.id}"))
        fields: frozenset[str] = frozenset(check.required_fields)
        p = omission.get(check.action, 0.0)
        if p > 0 and fields:
            rng = streams(f"fields:{check.id}")
            fields = frozenset(name for name in check.required_fields if rng.random() >= p)

        def done(now: float) -> None:
            actions.append(TimedAction(now, check.action, fields, check.department, check.owner_role))

        env.process(responder(env, resources[check.owner_role], STAGES.index(check.stage), duration, done))

    model = DrillModel(env, scenario, streams=streams, actions=actions, on_check_start=start)
    env.run()
    excluded = {check.id for check in scenario.checks} - modelled_checks(scenario)
    result = score_minutes(scenario, model.released, actions, exclude=excluded)
    return Replication(replication, result, dict(model.released))


@dataclass(frozen=True, slots=True)
class MonteCarlo:
    """All replications of one synthetic experiment."""

    scenario: Scenario
    seed: int | str
    staff: dict[str, int]
    replications: list[Replication] = field(repr=False)

    def overall(self) -> list[float]:
        return [r.score.overall for r in self.replications if r.score.overall is not None]


def simulate(
    scenario: Scenario,
    *,
    replications: int,
    seed: int | str = 0,
    staff: Mapping[str, int] | None = None,
) -> MonteCarlo:
    """Run ``replications`` independent synthetic replications (0 .. N-1) of a scenario."""
    if replications < 1:
        raise SimulationError("replications must be at least 1")
    runs = [run_replication(scenario, seed=seed, replication=i, staff=staff) for i in range(replications)]
    return MonteCarlo(scenario, seed, staffing(scenario, staff), runs)


def compare_staffing(
    scenario: Scenario,
    *,
    replications: int,
    seed: int | str,
    staff_a: Mapping[str, int] | None,
    staff_b: Mapping[str, int] | None,
) -> Estimate:
    """Mean paired difference (b - a) of the overall score, with a 95% interval (common random numbers)."""
    a = simulate(scenario, replications=replications, seed=seed, staff=staff_a)
    b = simulate(scenario, replications=replications, seed=seed, staff=staff_b)
    pairs = [
        (rb.score.overall - ra.score.overall)
        for ra, rb in zip(a.replications, b.replications, strict=True)
        if ra.score.overall is not None and rb.score.overall is not None
    ]
    return mean_ci(pairs)
