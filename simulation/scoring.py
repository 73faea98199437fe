"""Scoring, rubric version 1 (DESIGN.md section 7): a pure function of a scenario and its event log.

Per check, with e the minutes from the clock start (release of ``starts.inject``) to the scored action:
1.0 if e <= target; linear 1.0 -> 0.5 up to target + grace; linear 0.5 -> 0 up to hard_limit; 0 if not done
or done after hard_limit. Multiplied by the fraction of ``required_fields`` present.

Ratings: P on time and complete; S done within target + grace with at most one required field missing;
M done by hard_limit otherwise (late, or two or more fields missing); U not done by hard_limit.
Overall = 100 * sum(weight * score) / sum(weight) over the checks whose clock started; the overall rating is
P from 90, S from 75, M from 40, U below, and a critical check rated U caps it at M.

Which action is scored: every action of the check's name by the check's ``owner_role`` (and department, if
the check names one) at or after the clock start is a candidate; an action by anyone else stays on the log
without satisfying the check (a field officer's phone report does not answer the commander's call). An
action whose role the log does not record (``role=None``: synthetic runs, hand-written logs) is taken as
the owner's. Fields accumulate over successive candidates, because a written report
is routinely completed by a supplementary report (续报). The candidate with the best score is scored, the
earliest on ties, so a complete report inside the grace period beats an incomplete one on time, and a later
report never lowers a score. Times are scenario minutes: wall-clock differences times ``time_scale``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypedDict

from simulation.events import InjectReleased, ObservedAction
from simulation.scenario import Check, Scenario, minutes

__all__ = [
    "OVERALL_THRESHOLDS",
    "RUBRIC_VERSION",
    "CheckScore",
    "DrillScore",
    "Rating",
    "TimedAction",
    "check_state",
    "overall_score",
    "rate",
    "score",
    "score_minutes",
    "time_score",
]

RUBRIC_VERSION = 1
Rating = Literal["P", "S", "M", "U"]
Status = Literal["not_started", "open", "done", "missed"]
OVERALL_THRESHOLDS: tuple[tuple[float, Rating], ...] = ((90.0, "P"), (75.0, "S"), (40.0, "M"))
_ORDER = "PSMU"


@dataclass(frozen=True, slots=True)
class TimedAction:
    """An observed action in scenario minutes (the engine's and the scorer's own time line)."""

    minute: float
    action: str
    fields: frozenset[str] = frozenset()
    department: str | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class CheckScore:
    """One check's outcome. ``status``: not_started (its inject never came), open (still running), done,
    missed (hard_limit passed without the action). ``elapsed`` is the raw time in minutes."""

    check_id: str
    status: Status
    elapsed: float | None
    score: float | None
    rating: Rating | None
    fields_present: tuple[str, ...]
    fields_missing: tuple[str, ...]
    weight: float
    critical: bool
    started_minute: float | None = None


@dataclass(frozen=True, slots=True)
class DrillScore:
    """The drill's scores; ``overall`` is 0-100, ``None`` while nothing has been scored yet."""

    rubric_version: int
    overall: float | None
    rating: Rating | None
    capped: bool
    final: bool
    checks: tuple[CheckScore, ...]

    def check(self, check_id: str) -> CheckScore:
        return next(item for item in self.checks if item.check_id == check_id)


def time_score(target: float, grace: float, hard_limit: float, elapsed: float | None) -> float:
    """Return the timeliness factor for ``elapsed`` minutes (0 when not done)."""
    if elapsed is None or elapsed > hard_limit:
        return 0.0
    if elapsed <= target:
        return 1.0
    if elapsed <= target + grace:
        return 1.0 - 0.5 * (elapsed - target) / grace
    return 0.5 - 0.5 * (elapsed - target - grace) / (hard_limit - target - grace)


def rate(target: float, grace: float, hard_limit: float, elapsed: float | None, missing: int) -> Rating:
    """Rate one check from its elapsed minutes and the number of required fields missing."""
    if elapsed is None or elapsed > hard_limit:
        return "U"
    if elapsed <= target and missing == 0:
        return "P"
    if elapsed <= target + grace and missing <= 1:
        return "S"
    return "M"


def overall_score(
    items: Iterable[tuple[float, float, Rating, bool]],
) -> tuple[float | None, Rating | None, bool]:
    """Combine ``(weight, score, rating, critical)`` per check into (overall 0-100, rating, capped)."""
    total_weight = weighted = 0.0
    critical_u = False
    for weight, value, rating, critical in items:
        total_weight += weight
        weighted += weight * value
        critical_u = critical_u or (critical and rating == "U")
    if total_weight == 0:
        return None, None, False
    overall = 100.0 * weighted / total_weight
    reached: Rating = next((r for threshold, r in OVERALL_THRESHOLDS if overall >= threshold - 1e-9), "U")
    capped = critical_u and _ORDER.index(reached) < _ORDER.index("M")
    return overall, ("M" if capped else reached), capped


def _matches(check: Check, action: TimedAction, start: float) -> bool:
    return (
        action.action == check.action
        and action.minute >= start
        and (action.role is None or action.role == check.owner_role)
        and (check.department is None or action.department == check.department)
    )


class _Common(TypedDict):
    """The fields every :class:`CheckScore` of one check shares, whatever its status."""

    check_id: str
    weight: float
    critical: bool
    started_minute: float | None


def _score_check(
    check: Check, start: float | None, actions: Sequence[TimedAction], now: float | None
) -> CheckScore:
    target, grace, hard = minutes(check.target), minutes(check.grace), minutes(check.hard_limit)
    required = tuple(check.required_fields)
    common: _Common = {
        "check_id": check.id,
        "weight": check.weight,
        "critical": check.critical,
        "started_minute": start,
    }
    if start is None:
        return CheckScore(status="not_started", elapsed=None, score=None, rating=None, fields_present=(),
                          fields_missing=required, **common)  # fmt: skip
    best: tuple[float, float, frozenset[str]] | None = None
    seen: frozenset[str] = frozenset()
    for action in actions:
        if now is not None and action.minute > now:
            break
        if not _matches(check, action, start):
            continue
        seen = seen | action.fields
        elapsed = action.minute - start
        present = seen & set(required)
        fraction = len(present) / len(required) if required else 1.0
        value = time_score(target, grace, hard, elapsed) * fraction
        if best is None or value > best[0] + 1e-12:
            best = (value, elapsed, present)
    if best is None:
        if now is not None and now <= start + hard:
            return CheckScore(status="open", elapsed=None, score=None, rating=None, fields_present=(),
                              fields_missing=required, **common)  # fmt: skip
        return CheckScore(status="missed", elapsed=None, score=0.0, rating="U", fields_present=(),
                          fields_missing=required, **common)  # fmt: skip
    value, elapsed, present = best
    missing = tuple(name for name in required if name not in present)
    return CheckScore(
        status="done",
        elapsed=elapsed,
        score=value,
        rating=rate(target, grace, hard, elapsed, len(missing)),
        fields_present=tuple(name for name in required if name in present),
        fields_missing=missing,
        **common,
    )


def score_minutes(
    scenario: Scenario,
    released: dict[str, float],
    actions: Sequence[TimedAction],
    *,
    now: float | None = None,
    exclude: Iterable[str] = (),
) -> DrillScore:
    """Score on the scenario-minute time line; ``now=None`` means the drill is over (final score).

    ``actions`` must be sorted by minute. Checks in ``exclude`` are reported but left out of the overall.
    """
    skip = set(exclude)
    checks = tuple(_score_check(c, released.get(c.starts.inject), actions, now) for c in scenario.checks)
    scored = [
        (item.weight, item.score, item.rating, item.critical)
        for item in checks
        if item.score is not None and item.rating is not None and item.check_id not in skip
    ]
    overall, rating, capped = overall_score(scored)
    return DrillScore(RUBRIC_VERSION, overall, rating, capped, now is None, checks)


def score(
    scenario: Scenario,
    released: Iterable[InjectReleased],
    actions: Iterable[ObservedAction],
    *,
    now: datetime | None = None,
    time_scale: float = 1.0,
) -> DrillScore:
    """Score a drill from its event log (wall-clock records); ``now=None`` gives the final score."""
    released = list(released)
    actions = sorted(actions, key=lambda item: item.at)
    times = [item.at for item in released] + [item.at for item in actions] + ([now] if now else [])
    if not times:
        return score_minutes(scenario, {}, [], now=None if now is None else 0.0)
    origin = min(times)

    def to_minutes(at: datetime) -> float:
        return (at - origin).total_seconds() / 60.0 * time_scale

    first: dict[str, float] = {}
    for item in released:
        first.setdefault(item.inject_id, to_minutes(item.at))
    timed = [TimedAction(to_minutes(a.at), a.action, a.fields, a.department, a.role) for a in actions]
    return score_minutes(scenario, first, timed, now=None if now is None else to_minutes(now))


def check_state(check: Check, start: float | None, actions: Sequence[TimedAction], now: float) -> set[str]:
    """Return the statuses a ``when`` condition can test at ``now``: ``done`` / ``missed``, and ``late``.

    ``missed`` means not done yet (DESIGN.md: "fired only if the check is not yet done"); ``late`` means the
    target has passed without the action being done within it.
    """
    done_at = None
    if start is not None:
        done_at = next((a.minute for a in actions if a.minute <= now and _matches(check, a, start)), None)
    states = {"done"} if done_at is not None else {"missed"}
    if start is not None:
        deadline = start + minutes(check.target)
        if (done_at is None and now > deadline) or (done_at is not None and done_at > deadline):
            states.add("late")
    return states
