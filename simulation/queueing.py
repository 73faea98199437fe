"""M/M/c closed forms (Erlang C) and an M/M/c queue built from the synthetic engine's own parts.

The validity tests compare the two: Poisson arrivals feed ``synthetic.responder`` processes sharing one
``PriorityResource`` of ``c`` responders with exponential work drawn by ``synthetic.sample``, exactly the path
a drill's checks take through a role's staff.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

from simulation.engine import stream
from simulation.errors import SimulationError
from simulation.scenario import Exponential
from simulation.synthetic import responder, sample

__all__ = ["MMcResult", "erlang_c", "mean_wait", "p_sojourn_within", "p_wait_within", "simulate_mmc"]


def _check(c: int, arrival_rate: float, service_rate: float) -> None:
    if c < 1 or arrival_rate <= 0 or service_rate <= 0 or arrival_rate >= c * service_rate:
        raise SimulationError("M/M/c needs c >= 1, positive rates and utilisation below 1")


def erlang_c(c: int, arrival_rate: float, service_rate: float) -> float:
    """Probability that an arrival has to wait (Erlang C), computed stably via the Erlang B recursion."""
    _check(c, arrival_rate, service_rate)
    load = arrival_rate / service_rate
    blocking = 1.0
    for k in range(1, c + 1):
        blocking = load * blocking / (k + load * blocking)
    rho = load / c
    return blocking / (1 - rho + rho * blocking)


def mean_wait(c: int, arrival_rate: float, service_rate: float) -> float:
    """Mean time in queue, W_q = C / (c mu - lambda)."""
    return erlang_c(c, arrival_rate, service_rate) / (c * service_rate - arrival_rate)


def p_wait_within(c: int, arrival_rate: float, service_rate: float, t: float) -> float:
    """P(W_q <= t) = 1 - C exp(-(c mu - lambda) t)."""
    return 1 - erlang_c(c, arrival_rate, service_rate) * math.exp(-(c * service_rate - arrival_rate) * t)


def p_sojourn_within(c: int, arrival_rate: float, service_rate: float, t: float) -> float:
    """P(W_q + S <= t): the probability of being finished within t of arriving."""
    wait_c = erlang_c(c, arrival_rate, service_rate)
    theta, mu = c * service_rate - arrival_rate, service_rate
    if abs(theta - mu) < 1e-12:
        tail_both = (1 + mu * t) * math.exp(-mu * t)
    else:
        tail_both = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
    return 1 - ((1 - wait_c) * math.exp(-mu * t) + wait_c * tail_both)


@dataclass(frozen=True, slots=True)
class MMcResult:
    """Per-customer waits and sojourn times (after warm-up), in arrival order."""

    waits: list[float]
    sojourns: list[float]


def simulate_mmc(
    c: int,
    arrival_rate: float,
    service_rate: float,
    *,
    customers: int,
    warmup: int = 0,
    seed: int | str = 0,
    replication: int = 0,
) -> MMcResult:
    """Simulate an M/M/c queue through the synthetic responder model."""
    _check(c, arrival_rate, service_rate)
    env = simpy.Environment()
    staff = simpy.PriorityResource(env, capacity=c)
    arrivals = stream(seed, replication, "mmc:arrivals")
    services = stream(seed, replication, "mmc:services")
    work = Exponential(dist="exponential", mean=1.0 / service_rate)
    waits: list[float] = [0.0] * customers
    sojourns: list[float] = [0.0] * customers

    def customer(index: int, arrived: float, duration: float) -> Generator[simpy.Event, Any, None]:
        def started(now: float) -> None:
            waits[index] = now - arrived  # exactly 0.0 when a responder was free

        def done(now: float) -> None:
            sojourns[index] = now - arrived

        yield env.process(responder(env, staff, 0, duration, done, started))

    def crowd(env: simpy.Environment) -> Generator[simpy.Event, Any, None]:
        for index in range(customers):
            yield env.timeout(arrivals.expovariate(arrival_rate))
            env.process(customer(index, env.now, sample(work, services)))

    env.process(crowd(env))
    env.run()
    return MMcResult(waits[warmup:], sojourns[warmup:])
