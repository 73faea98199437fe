"""``command-center drill ...``: validate and simulate scenario files.

Bad files never produce a traceback: every problem is printed as ``FILE:LINE: field: message (hint: ...)``
on stderr and the command exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from command_center.cli import schedule

if TYPE_CHECKING:
    from simulation import ScenarioError

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    drill = commands.add_parser("drill", help="scenario files and drills")
    sub = drill.add_subparsers(dest="drill_command", required=True, metavar="DRILL_COMMAND")

    validate = sub.add_parser("validate", help="check scenario files and report every problem")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(func=_validate)

    simulate_cmd = sub.add_parser("simulate", help="Monte Carlo run of a scenario with synthetic responders")
    simulate_cmd.add_argument("file", metavar="FILE")
    simulate_cmd.add_argument("--replications", type=_positive_int, default=1000, metavar="N")
    simulate_cmd.add_argument("--seed", default="0", metavar="S")
    simulate_cmd.add_argument("--staff", action="append", default=[], type=_staff, metavar="ROLE=N")
    simulate_cmd.add_argument("--json", action="store_true", help="print one JSON object for machines")
    simulate_cmd.set_defaults(func=_simulate)

    schedule.add_parser(sub)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _staff(text: str) -> tuple[str, int]:
    role, sep, count = text.partition("=")
    if not sep or not role.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: write ROLE=N, e.g. field_officer=3")
    return role.strip(), _positive_int(count.strip())


def _seed(text: str) -> int | str:
    return int(text) if text.lstrip("-").isdigit() else text


def _print_problems(error: ScenarioError) -> None:
    for problem in error.problems:
        print(problem, file=sys.stderr)


def _validate(args: argparse.Namespace) -> int:
    from simulation import ScenarioError, load_scenario

    status = 0
    for name in args.files:
        try:
            scenario = load_scenario(name)
        except ScenarioError as exc:
            _print_problems(exc)
            status = 1
            continue
        print(f"{name}: ok ({scenario.id}, {len(scenario.checks)} checks, {len(scenario.injects)} injects)")
    return status


def _simulate(args: argparse.Namespace) -> int:
    from simulation import ScenarioError, SimulationError, format_table, load_scenario, simulate, summarize

    try:
        scenario = load_scenario(args.file)
    except ScenarioError as exc:
        _print_problems(exc)
        return 1
    staff = dict(args.staff)
    known = {check.owner_role for check in scenario.checks}
    if scenario.synthetic:
        known |= set(scenario.synthetic.staff)
    unknown = sorted(set(staff) - known)
    if unknown:
        print(
            f"{args.file}: --staff names a role the scenario does not use: {', '.join(unknown)} "
            f"(hint: use one of {', '.join(sorted(known))})",
            file=sys.stderr,
        )
        return 1
    try:
        result = simulate(scenario, replications=args.replications, seed=_seed(args.seed), staff=staff)
    except SimulationError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    summary = summarize(result)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, sort_keys=True))
    else:
        print(format_table(summary))
    return 0
