"""The drill engine: scenario files, the SimPy engine (synthetic and live), scoring and queueing checks.

A pure library: it knows nothing of ``command_center``; the live system plugs in through ``DrillSink``.
"""

from simulation.durations import format_duration, parse_duration
from simulation.engine import DrillModel, stream
from simulation.errors import Problem, ScenarioError, SimulationError
from simulation.events import InjectReleased, ObservedAction
from simulation.live import (
    CheckStatusChanged,
    DrillFinished,
    DrillSink,
    InjectFired,
    LiveDrill,
    LiveEvent,
    ScoreUpdated,
)
from simulation.loader import load_scenario, load_scenario_text, shipped_scenario_files, shipped_scenarios
from simulation.report import format_table, summarize
from simulation.scenario import ACTIONS, ROLES, STAGES, Check, Inject, Scenario, scenario_json_schema
from simulation.scoring import (
    RUBRIC_VERSION,
    CheckScore,
    DrillScore,
    Rating,
    TimedAction,
    score,
    score_minutes,
)
from simulation.synthetic import MonteCarlo, Replication, compare_staffing, run_replication, simulate

__all__ = [
    "ACTIONS",
    "ROLES",
    "RUBRIC_VERSION",
    "STAGES",
    "Check",
    "CheckScore",
    "CheckStatusChanged",
    "DrillFinished",
    "DrillModel",
    "DrillScore",
    "DrillSink",
    "Inject",
    "InjectFired",
    "InjectReleased",
    "LiveDrill",
    "LiveEvent",
    "MonteCarlo",
    "ObservedAction",
    "Problem",
    "Rating",
    "Replication",
    "Scenario",
    "ScenarioError",
    "ScoreUpdated",
    "SimulationError",
    "TimedAction",
    "compare_staffing",
    "format_duration",
    "format_table",
    "load_scenario",
    "load_scenario_text",
    "parse_duration",
    "run_replication",
    "scenario_json_schema",
    "score",
    "score_minutes",
    "shipped_scenario_files",
    "shipped_scenarios",
    "simulate",
    "stream",
    "summarize",
]
