"""Rules that relate the parts of a scenario: references, cycles and timings.

Each problem is ``(location, message, hint)`` where the location is the same kind of path pydantic uses
(``("checks", 0, "hard_limit")``), so the loader can turn it into a line number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from simulation.vocabulary import ACTION_FIELDS, ACTIONS, COLLECTIVE_MIN_HEADCOUNT, ROLES, UNRECORDED_ACTIONS

__all__ = ["Found", "ScenarioParts", "semantic_problems"]

Found = tuple[tuple[str | int, ...], str, str]


class ScenarioParts(Protocol):
    """What the rules read of a scenario; ``simulation.scenario.Scenario`` has it.

    A protocol rather than an import, because the model runs these rules when it validates: importing the
    model here would make the two modules import each other.
    """

    @property
    def category(self) -> str: ...
    @property
    def departments(self) -> Sequence[str]: ...
    @property
    def checks(self) -> Sequence[Any]: ...
    @property
    def injects(self) -> Sequence[Any]: ...
    @property
    def synthetic(self) -> Any: ...


def semantic_problems(scenario: ScenarioParts) -> list[Found]:
    """Return every cross-reference and timing problem of a structurally valid scenario."""
    found: list[Found] = []
    found += _duplicates(scenario)
    found += _inject_problems(scenario)
    found += _cycles(scenario)
    found += _check_problems(scenario)
    found += _synthetic_problems(scenario)
    return found


def _duplicates(scenario: ScenarioParts) -> list[Found]:
    found: list[Found] = []
    for kind, items in (("checks", scenario.checks), ("injects", scenario.injects)):
        seen: set[str] = set()
        for index, item in enumerate(items):
            if item.id in seen:
                found.append(
                    ((kind, index, "id"), f"duplicate id {item.id!r}", "give every entry its own id")
                )
            seen.add(item.id)
    return found


def _inject_problems(scenario: ScenarioParts) -> list[Found]:
    found: list[Found] = []
    inject_ids = {inject.id for inject in scenario.injects}
    check_ids = {check.id for check in scenario.checks}
    recipients = set(ROLES) | set(scenario.departments)
    for index, inject in enumerate(scenario.injects):
        loc: tuple[str | int, ...] = ("injects", index)
        if (inject.at is None) == (inject.after is None):
            found.append(
                (
                    (*loc, "at"),
                    "an inject needs exactly one of 'at' or 'after'",
                    "write 'at: PT0M' for a fixed time or 'after: {inject: ID, delay: PT10M}'",
                )
            )
        if inject.after is not None and inject.after.inject not in inject_ids:
            found.append(
                (
                    (*loc, "after", "inject"),
                    f"unknown inject {inject.after.inject!r}",
                    f"use one of the inject ids: {', '.join(sorted(inject_ids))}",
                )
            )
        if inject.when is not None and inject.when.check not in check_ids:
            found.append(
                (
                    (*loc, "when", "check"),
                    f"unknown check {inject.when.check!r} referenced by inject {inject.id!r}",
                    f"use one of the check ids: {', '.join(sorted(check_ids))}",
                )
            )
        if inject.jitter.low > inject.jitter.high:
            found.append(
                (
                    (*loc, "jitter", "high"),
                    "jitter high is before jitter low",
                    "swap them, or make high at least low",
                )
            )
        for position, recipient in enumerate(inject.to):
            if recipient not in recipients:
                found.append(
                    (
                        (*loc, "to", position),
                        f"unknown recipient {recipient!r}",
                        "use a role (" + ", ".join(ROLES) + ") or a department listed in 'departments'",
                    )
                )
        headcount = inject.incident.headcount if inject.incident is not None else None
        minimum = COLLECTIVE_MIN_HEADCOUNT
        if scenario.category == "collective_petition" and headcount is not None and headcount < minimum:
            found.append(
                (
                    (*loc, "incident", "headcount"),
                    f"a collective petition is {minimum} or more people; {headcount} given",
                    "raise the headcount, or give the scenario the category that fits",
                )
            )
        if inject.kind == "incident" and inject.incident is None:
            found.append(
                (
                    (*loc, "kind"),
                    "an 'incident' inject must describe the incident",
                    "add 'incident: {headcount: N, location: {lat: .., lon: ..}}'",
                )
            )
        if inject.kind == "video" and not any(other.kind == "incident" for other in scenario.injects):
            found.append(
                (
                    (*loc, "kind"),
                    "a 'video' inject needs an 'incident' inject: its stream is linked to the incident",
                    "add an inject of kind 'incident' released before this one",
                )
            )
    return found


def _cycles(scenario: ScenarioParts) -> list[Found]:
    parents = {inject.id: inject.after.inject for inject in scenario.injects if inject.after is not None}
    index_of = {inject.id: index for index, inject in enumerate(scenario.injects)}
    found: list[Found] = []
    reported: set[str] = set()
    for start in parents:
        chain = [start]
        current = start
        while current in parents:
            current = parents[current]
            if current in chain:
                cycle = chain[chain.index(current) :]
                if not reported & set(cycle):
                    reported |= set(cycle)
                    path = " -> ".join([*cycle, current])
                    found.append(
                        (
                            ("injects", index_of[current], "after", "inject"),
                            f"cycle in 'after' chain: {path}",
                            "one inject of the chain must start at a fixed time with 'at'",
                        )
                    )
                break
            chain.append(current)
    return found


def _check_problems(scenario: ScenarioParts) -> list[Found]:
    found: list[Found] = []
    inject_ids = {inject.id for inject in scenario.injects}
    for index, check in enumerate(scenario.checks):
        loc: tuple[str | int, ...] = ("checks", index)
        if check.starts.inject not in inject_ids:
            found.append(
                (
                    (*loc, "starts", "inject"),
                    f"unknown inject {check.starts.inject!r}",
                    f"use one of the inject ids: {', '.join(sorted(inject_ids))}",
                )
            )
        if check.action in UNRECORDED_ACTIONS:
            found.append(
                (
                    (*loc, "action"),
                    f"the live system never records {check.action!r}",
                    UNRECORDED_ACTIONS[check.action],
                )
            )
        elif check.action not in ACTIONS:
            found.append(
                ((*loc, "action"), f"unknown action {check.action!r}", "use one of: " + ", ".join(ACTIONS))
            )
        else:
            found += _required_field_problems(loc, check.action, check.required_fields)
        if check.owner_role not in ROLES:
            found.append(
                (
                    (*loc, "owner_role"),
                    f"unknown role {check.owner_role!r}",
                    "use one of: " + ", ".join(ROLES),
                )
            )
        if check.department is not None and check.department not in scenario.departments:
            found.append(
                (
                    (*loc, "department"),
                    f"department {check.department!r} is not taking part",
                    "add it to 'departments' or fix the spelling",
                )
            )
        if check.hard_limit < check.target:
            found.append(
                (
                    (*loc, "hard_limit"),
                    "hard_limit is before target",
                    "the hard limit must be at least target + grace",
                )
            )
        elif check.hard_limit < check.target + check.grace:
            found.append(
                (
                    (*loc, "hard_limit"),
                    "hard_limit is before target + grace",
                    "shorten grace or lengthen hard_limit",
                )
            )
        if len(set(check.required_fields)) != len(check.required_fields):
            found.append(
                ((*loc, "required_fields"), "a required field is listed twice", "list each field once")
            )
    return found


def _required_field_problems(loc: tuple[str | int, ...], action: str, names: Sequence[str]) -> list[Found]:
    """A required field must be a fact the action carries; a misspelt one could never be present."""
    carried = ACTION_FIELDS.get(action, ())
    found: list[Found] = []
    for position, name in enumerate(names):
        if name in carried:
            continue
        hint = (
            f"{action} carries: {', '.join(carried)}; fix the spelling"
            if carried
            else f"{action} carries no fields; remove required_fields"
        )
        found.append(((*loc, "required_fields", position), f"unknown required field {name!r}", hint))
    return found


def _synthetic_problems(scenario: ScenarioParts) -> list[Found]:
    synthetic = scenario.synthetic
    if synthetic is None:
        return []
    found: list[Found] = []
    loc = ("synthetic",)
    for role, count in synthetic.staff.items():
        if role not in ROLES:
            found.append(((*loc, "staff", role), f"unknown role {role!r}", "use one of: " + ", ".join(ROLES)))
        if count < 1:
            found.append(((*loc, "staff", role), "staff must be at least 1", "remove the role or staff it"))
    for action, dist in synthetic.response_time.items():
        if action not in ACTIONS:
            found.append(
                (
                    (*loc, "response_time", action),
                    f"unknown action {action!r}",
                    "use one of: " + ", ".join(ACTIONS),
                )
            )
        low = getattr(dist, "low", None)
        high = getattr(dist, "high", None)
        mode = getattr(dist, "mode", None)
        if low is not None and high is not None and low > high:
            found.append(((*loc, "response_time", action, "high"), "high is below low", "make high >= low"))
        elif mode is not None and not (low <= mode <= high):
            found.append(
                ((*loc, "response_time", action, "mode"), "mode is outside low..high", "low <= mode <= high")
            )
    for action in synthetic.field_omission:
        if action not in ACTIONS:
            found.append(
                (
                    (*loc, "field_omission", action),
                    f"unknown action {action!r}",
                    "use one of: " + ", ".join(ACTIONS),
                )
            )
    return found
