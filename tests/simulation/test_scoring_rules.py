"""Golden tests of the DESIGN.md section 7 rules on who counts and how several reports add up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulation import InjectReleased, ObservedAction, load_scenario_text, score, shipped_scenarios

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ALL = ("headcount", "demands", "dynamics")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture(scope="module")
def gate_blocking():  # type: ignore[no-untyped-def]
    return next(s for s in shipped_scenarios() if s.id == "special-gate-blocking-2026")


def test_only_the_owner_role_satisfies_a_check(gate_blocking) -> None:  # type: ignore[no-untyped-def]
    """The observed case: a field officer's phone report rated the commander's superior_call_answered P."""
    released = [InjectReleased("arrival", at(0)), InjectReleased("superior_call", at(5))]
    field = ObservedAction("report.phone", at(6), role="field_officer", department="section")
    only_field = score(gate_blocking, released, [field])
    assert only_field.check("superior_call_answered").rating == "U"
    assert only_field.check("superior_call_answered").status == "missed"
    # ... while the same report still satisfies the field officer's own check.
    assert only_field.check("phone_report").rating == "P"

    commander = ObservedAction("report.phone", at(8), role="commander", department="section")
    both = score(gate_blocking, released, [field, commander])
    assert both.check("superior_call_answered").rating == "P"
    assert both.check("superior_call_answered").elapsed == pytest.approx(3)


def test_a_department_check_counts_only_that_departments_owner_role(gate_blocking) -> None:  # type: ignore[no-untyped-def]
    check = next(c for c in gate_blocking.checks if c.department is not None)
    starts = gate_blocking.inject(check.starts.inject)
    released = [InjectReleased("arrival", at(0)), InjectReleased(starts.id, at(0))]
    wrong_department = ObservedAction(check.action, at(1), role=check.owner_role, department="housing")
    wrong_role = ObservedAction(check.action, at(1), role="commander", department=check.department)
    assert score(gate_blocking, released, [wrong_department, wrong_role]).check(check.id).rating == "U"
    right = ObservedAction(check.action, at(2), role=check.owner_role, department=check.department)
    assert score(gate_blocking, released, [wrong_department, right]).check(check.id).rating == "P"


MINIMAL_WRITTEN = """\
schema_version: 1
id: written-only
title: {zh-CN: 书面报告, en: Written report}
category: collective_petition
notice: double_blind
departments: [section]
rubric_version: 1
checks:
  - id: written_report
    stage: information_report
    owner_role: field_officer
    starts: {inject: arrival}
    action: report.written
    required_fields: [headcount, demands, dynamics]
    target: PT30M
    grace: PT10M
    hard_limit: PT60M
injects:
  - id: arrival
    at: PT0M
    to: [field_officer]
    kind: incident
    content: {zh-CN: 群众聚集, en: A crowd gathers}
    incident: {headcount: 30}
"""


@pytest.mark.parametrize(
    ("reports", "rating", "elapsed"),
    [
        # 初报 with two facts, 续报 with the third inside the target: complete on time (P), at the 续报.
        ([(10, ("headcount", "demands")), (25, ("dynamics",))], "P", 25),
        # 续报 inside the grace: S, scored at the 续报 (better than the incomplete report on time).
        ([(10, ("headcount", "demands")), (35, ("dynamics",))], "S", 35),
        # 续报 after the grace: the on-time report missing one fact (S) is the best so far.
        ([(10, ("headcount", "demands")), (45, ("dynamics",))], "S", 10),
        # Facts are counted across three reports.
        ([(5, ("headcount",)), (15, ("demands",)), (20, ("dynamics",))], "P", 20),
        # A second report repeating what was said adds nothing.
        ([(5, ("headcount",)), (15, ("headcount",))], "M", 5),
    ],
)
def test_several_reports_add_up(reports, rating, elapsed) -> None:  # type: ignore[no-untyped-def]
    scenario = load_scenario_text(MINIMAL_WRITTEN, "written.yaml")
    actions = [
        ObservedAction("report.written", at(m), fields=frozenset(f), role="field_officer") for m, f in reports
    ]
    check = score(scenario, [InjectReleased("arrival", at(0))], actions).check("written_report")
    assert (check.rating, check.elapsed) == (rating, pytest.approx(elapsed))


def test_a_supplementary_report_by_someone_else_does_not_complete_the_check() -> None:
    scenario = load_scenario_text(MINIMAL_WRITTEN, "written.yaml")
    actions = [
        ObservedAction("report.written", at(10), fields=frozenset(ALL[:2]), role="field_officer"),
        ObservedAction("report.written", at(20), fields=frozenset(ALL[2:]), role="duty_officer"),
    ]
    check = score(scenario, [InjectReleased("arrival", at(0))], actions).check("written_report")
    assert check.rating == "S" and check.fields_missing == ("dynamics",)


def test_an_action_without_a_recorded_role_is_taken_as_the_owners() -> None:
    """Synthetic runs and hand-written logs do not record roles; the live system always does."""
    scenario = load_scenario_text(MINIMAL_WRITTEN, "written.yaml")
    actions = [ObservedAction("report.written", at(10), fields=frozenset(ALL))]
    assert score(scenario, [InjectReleased("arrival", at(0))], actions).check("written_report").rating == "P"
