"""Golden tests of rubric version 1 on plain lists: every boundary of DESIGN.md section 7."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sim_helpers import MINIMAL

from simulation import InjectReleased, ObservedAction, load_scenario_text, score, score_minutes
from simulation.scoring import TimedAction, check_state, overall_score, rate, time_score

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def scenario():
    return load_scenario_text(MINIMAL, "minimal.yaml")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def phone(minutes: float) -> ObservedAction:
    return ObservedAction("report.phone", at(minutes), actor="officer-1")


def written(minutes: float, *fields: str) -> ObservedAction:
    return ObservedAction("report.written", at(minutes), fields=frozenset(fields))


ALL = ("headcount", "demands", "dynamics")
RELEASED = [InjectReleased("arrival", at(0))]


@pytest.mark.parametrize(
    ("elapsed", "expected_score", "expected_rating"),
    [
        (0.0, 1.0, "P"),
        (10.0, 1.0, "P"),  # exactly target
        (12.5, 0.75, "S"),  # half-way through grace
        (15.0, 0.5, "S"),  # exactly target + grace
        (22.5, 0.25, "M"),  # half-way from grace to hard_limit
        (30.0, 0.0, "M"),  # exactly hard_limit: done, but worth nothing
        (30.01, 0.0, "U"),  # after hard_limit
    ],
)
def test_phone_report_boundaries(scenario, elapsed, expected_score, expected_rating):
    result = score(scenario, RELEASED, [phone(elapsed), written(20, *ALL)])
    check = result.check("phone_report")
    assert check.elapsed == pytest.approx(elapsed)
    assert check.score == pytest.approx(expected_score)
    assert check.rating == expected_rating
    assert result.rubric_version == 1


def test_missing_action_is_u_with_zero(scenario):
    result = score(scenario, RELEASED, [written(20, *ALL)])
    check = result.check("phone_report")
    assert (check.status, check.score, check.rating, check.elapsed) == ("missed", 0.0, "U", None)


@pytest.mark.parametrize(
    ("fields", "expected_score", "expected_rating"),
    [
        (ALL, 1.0, "P"),
        (("headcount", "demands"), 2 / 3, "S"),  # one field missing on time
        (("headcount",), 1 / 3, "M"),  # two missing: done but deficient
        ((), 0.0, "M"),
    ],
)
def test_written_report_required_fields(scenario, fields, expected_score, expected_rating):
    result = score(scenario, RELEASED, [phone(5), written(20, *fields)])
    check = result.check("written_report")
    assert check.score == pytest.approx(expected_score)
    assert check.rating == expected_rating
    assert set(check.fields_missing) == set(ALL) - set(fields)


def test_one_field_missing_inside_grace_is_still_s(scenario):
    check = score(scenario, RELEASED, [phone(5), written(35, "headcount", "demands")]).check("written_report")
    assert check.score == pytest.approx(0.75 * 2 / 3)
    assert check.rating == "S"


def test_supplementary_report_completes_fields_and_best_candidate_is_scored(scenario):
    # incomplete on time (2/3 = 0.667), completed inside grace (0.75 x 1): the better one counts
    actions = [phone(5), written(20, "headcount", "demands"), written(35, "dynamics")]
    check = score(scenario, RELEASED, actions).check("written_report")
    assert check.elapsed == pytest.approx(35)
    assert check.score == pytest.approx(0.75)
    assert check.rating == "S"
    assert check.fields_missing == ()


def test_a_later_report_never_lowers_the_score(scenario):
    actions = [phone(5), written(20, *ALL), written(50)]
    check = score(scenario, RELEASED, actions).check("written_report")
    assert (check.elapsed, check.score, check.rating) == (20, 1.0, "P")


def test_actions_before_the_clock_starts_do_not_count(scenario):
    released = [InjectReleased("arrival", at(10))]
    result = score(scenario, released, [phone(5), written(30, *ALL)])
    assert result.check("phone_report").status == "missed"
    assert result.check("written_report").elapsed == pytest.approx(20)


def test_overall_is_weighted_mean_on_0_to_100(scenario):
    # phone (w2) at target+grace = 0.5, written (w2) complete on time = 1.0 -> 75
    result = score(scenario, RELEASED, [phone(15), written(20, *ALL)])
    assert result.overall == pytest.approx(75.0)
    assert result.rating == "S"
    assert not result.capped


def test_critical_u_caps_overall_rating_at_m():
    overall, rating, capped = overall_score([(1, 0.0, "U", True), (20, 1.0, "P", False)])
    assert overall == pytest.approx(100 * 20 / 21)
    assert rating == "M" and capped


def test_non_critical_u_does_not_cap():
    overall, rating, capped = overall_score([(1, 0.0, "U", False), (20, 1.0, "P", False)])
    assert rating == "P" and not capped
    assert overall == pytest.approx(100 * 20 / 21)


def test_critical_u_cannot_raise_a_lower_rating():
    _, rating, capped = overall_score([(1, 0.0, "U", True), (1, 0.0, "U", False)])
    assert rating == "U" and not capped


def test_capping_through_score(scenario):
    # a light critical check rated U: 100 * 2 / 2.1 = 95.2 would be P, the cap makes it M
    light = scenario.check("phone_report").model_copy(update={"weight": 0.1})
    data = scenario.model_copy(update={"checks": [light, scenario.check("written_report")]})
    result = score(data, RELEASED, [written(10, *ALL)])
    assert result.check("phone_report").rating == "U"
    assert result.overall == pytest.approx(100 * 2 / 2.1)
    assert result.rating == "M" and result.capped


def test_checks_whose_inject_never_came_are_not_scored(scenario):
    result = score(scenario, [], [phone(1)])
    assert all(item.status == "not_started" for item in result.checks)
    assert result.overall is None and result.rating is None


def test_open_checks_are_left_out_until_due(scenario):
    now = at(12)
    result = score(scenario, RELEASED, [phone(5)], now=now)
    assert result.check("written_report").status == "open"
    assert result.overall == pytest.approx(100.0)
    assert not result.final


def test_time_scale_turns_wall_clock_into_scenario_minutes(scenario):
    # at 60x, 10 wall seconds are 10 scenario minutes
    released = [InjectReleased("arrival", T0)]
    actions = [ObservedAction("report.phone", T0 + timedelta(seconds=10))]
    check = score(scenario, released, actions, time_scale=60).check("phone_report")
    assert check.elapsed == pytest.approx(10.0)
    assert check.rating == "P"


def test_score_is_pure_and_order_independent(scenario):
    actions = [written(35, "dynamics"), phone(12), written(20, "headcount", "demands")]
    assert score(scenario, RELEASED, actions) == score(scenario, RELEASED, list(reversed(actions)))


def test_department_filter(scenario):
    from simulation.scenario import Check

    check = Check.model_validate(
        {
            "id": "police_ack",
            "stage": "on_site_control",
            "owner_role": "liaison",
            "department": "police",
            "starts": {"inject": "arrival"},
            "action": "task.acknowledge",
            "target": "PT5M",
            "hard_limit": "PT10M",
        }
    )
    data = scenario.model_copy(update={"checks": [check]})
    wrong = [TimedAction(2, "task.acknowledge", department="cyberspace")]
    right = [*wrong, TimedAction(4, "task.acknowledge", department="police")]
    assert score_minutes(data, {"arrival": 0.0}, wrong).checks[0].rating == "U"
    assert score_minutes(data, {"arrival": 0.0}, right).checks[0].elapsed == 4


def test_pure_functions_agree_with_the_rubric():
    assert time_score(10, 0, 10, 10) == 1.0
    assert time_score(10, 0, 20, 15) == pytest.approx(0.25)  # no grace: straight from 0.5 at target
    assert rate(10, 0, 20, 10.5, 0) == "M"
    assert rate(10, 5, 30, None, 0) == "U"


def test_check_state_for_branching(scenario):
    check = scenario.check("written_report")
    actions = [TimedAction(25, "report.written", frozenset(ALL))]
    assert check_state(check, 0.0, actions, 20) == {"missed"}
    assert check_state(check, 0.0, actions, 26) == {"done"}
    assert check_state(check, 0.0, [], 31) == {"missed", "late"}
    assert check_state(check, 0.0, [TimedAction(35, "report.written")], 40) == {"done", "late"}
    assert check_state(check, None, actions, 100) == {"missed"}  # its clock never started
