"""Benchmark the drill engine; prints ONE JSON object of figures.

    python benchmarks/simulation.py [--replications N] [--seed S]   (or: python -m benchmarks.simulation)

- replications per second for every shipped scenario (synthetic mode, full scoring included);
- SimPy events per second in the engine against a bare SimPy loop (one process yielding timeouts) measured
  in the same run, and their ratio (the engine's overhead per event: responders, branching, scoring);
- the wall time of 1,000 replications of the largest shipped scenario (target: under 10 s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and its name would shadow the package.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import simpy

from simulation import load_scenario, run_replication, shipped_scenario_files, simulate


class CountingEnvironment(simpy.Environment):
    """An environment that counts the events it processes (used to count, never to time)."""

    def __init__(self) -> None:
        super().__init__()
        self.processed = 0

    def step(self) -> None:
        self.processed += 1
        super().step()


def bare_loop(env: simpy.Environment, n: int) -> Generator[simpy.Event, Any, None]:
    for _ in range(n):
        yield env.timeout(1)


def bare_events_per_second(n: int = 300_000) -> float:
    counting = CountingEnvironment()
    counting.process(bare_loop(counting, n))
    counting.run()
    env = simpy.Environment()
    env.process(bare_loop(env, n))
    start = time.perf_counter()
    env.run()
    return counting.processed / (time.perf_counter() - start)


def engine_events(scenario, *, seed: int, replications: int) -> int:
    return sum(_counted(scenario, seed=seed, replication=i) for i in range(replications))


def _counted(scenario, *, seed: int, replication: int) -> int:
    envs: list[CountingEnvironment] = []

    def factory() -> simpy.Environment:
        envs.append(CountingEnvironment())
        return envs[-1]

    run_replication(scenario, seed=seed, replication=replication, env_factory=factory)
    return envs[0].processed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--replications", type=int, default=500, help="replications per scenario for the rate"
    )
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)

    scenarios = {path.name: load_scenario(path) for path in shipped_scenario_files()}
    per_scenario = {}
    for name, scenario in scenarios.items():
        start = time.perf_counter()
        simulate(scenario, replications=args.replications, seed=args.seed)
        elapsed = time.perf_counter() - start
        per_scenario[scenario.id] = {
            "file": name,
            "checks": len(scenario.checks),
            "injects": len(scenario.injects),
            "replications_per_second": round(args.replications / elapsed, 1),
        }

    largest = max(scenarios.values(), key=lambda s: (len(s.checks) + len(s.injects), s.id))
    events = engine_events(largest, seed=args.seed, replications=args.replications)
    start = time.perf_counter()
    simulate(largest, replications=args.replications, seed=args.seed)
    engine_rate = events / (time.perf_counter() - start)
    bare_rate = bare_events_per_second()

    start = time.perf_counter()
    simulate(largest, replications=1000, seed=args.seed)
    thousand = time.perf_counter() - start

    print(
        json.dumps(
            {
                "benchmark": "simulation",
                "python": platform.python_version(),
                "simpy": simpy.__version__,
                "cpus": os.cpu_count(),
                "seed": args.seed,
                "replications_per_scenario": args.replications,
                "scenarios": per_scenario,
                "largest_scenario": largest.id,
                "events_per_replication": round(events / args.replications, 1),
                "engine_events_per_second": round(engine_rate),
                "bare_simpy_events_per_second": round(bare_rate),
                "engine_to_bare_ratio": round(engine_rate / bare_rate, 3),
                "largest_1000_replications_seconds": round(thousand, 3),
                "largest_1000_replications_target_seconds": 10.0,
                "largest_1000_replications_within_target": thousand < 10.0,
            },
            sort_keys=False,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
