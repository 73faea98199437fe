"""Synthetic mode: shipped scenarios, any valid file, determinism and common random numbers."""

from __future__ import annotations

import json

import pytest
from sim_helpers import MINIMAL

from simulation import (
    STAGES,
    SimulationError,
    compare_staffing,
    load_scenario,
    load_scenario_text,
    run_replication,
    shipped_scenario_files,
    shipped_scenarios,
    simulate,
    summarize,
)
from simulation.schema import render_schema, schema_path
from simulation.stats import mean_ci

SHIPPED = shipped_scenario_files()


def test_shipped_set_covers_the_2026_drills_and_every_category():
    scenarios = shipped_scenarios()
    assert len(scenarios) >= 7
    assert {s.category for s in scenarios} == {
        "collective_petition",
        "skip_level_petition",
        "disruptive_petition",
        "extreme_behaviour",
    }
    special = [s for s in scenarios if s.id.startswith("special-")]
    assert len(special) == 3


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenario_is_complete(path):
    scenario = load_scenario(path)
    stages = {check.stage for check in scenario.checks}
    assert stages == set(STAGES), f"stages without a check: {set(STAGES) - stages}"
    actions = {check.action for check in scenario.checks}
    assert {
        "report.phone",
        "report.written",
        "team.assemble",
        "demands.answer",
        "followup.arrange",
    } <= actions
    written = next(c for c in scenario.checks if c.action == "report.written")
    assert written.target.total_seconds() == 30 * 60
    assert set(written.required_fields) == {"headcount", "demands", "dynamics"}
    phone = next(c for c in scenario.checks if c.action == "report.phone")
    assert phone.target.total_seconds() == 10 * 60
    assert any(inject.when is not None for inject in scenario.injects), "no branch for a missed check"
    assert scenario.synthetic is not None
    assert {c.action for c in scenario.checks} <= set(scenario.synthetic.response_time), "unmodelled checks"


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_scenario_simulates(path):
    scenario = load_scenario(path)
    summary = summarize(simulate(scenario, replications=40, seed=1))
    assert summary["replications"] == 40
    assert 0 <= summary["overall"]["mean"]["value"] <= 100
    json.dumps(summary)  # JSON-ready
    branch_checks = {c.id for c in scenario.checks if scenario.inject(c.starts.inject).when is not None}
    for check in summary["checks"]:
        if check["id"] not in branch_checks:
            assert check["started"] == 1.0


def test_same_seed_same_result_different_seed_different_result():
    scenario = load_scenario(SHIPPED[0])
    a = summarize(simulate(scenario, replications=30, seed=5))
    b = summarize(simulate(scenario, replications=30, seed=5))
    c = summarize(simulate(scenario, replications=30, seed=6))
    assert a == b
    assert a["overall"] != c["overall"]


def test_common_random_numbers_keep_draws_when_staff_changes():
    scenario = load_scenario_text(MINIMAL)
    # with plenty of responders nobody queues, so one extra responder changes nothing at all
    a = run_replication(scenario, seed=9, replication=3, staff={"field_officer": 5})
    b = run_replication(scenario, seed=9, replication=3, staff={"field_officer": 6})
    assert a == b
    # with one responder the reports queue; the inject schedule (jitter) is unaffected
    c = run_replication(scenario, seed=9, replication=3, staff={"field_officer": 1})
    assert c.released["arrival"] == a.released["arrival"]
    assert c.score.check("written_report").elapsed >= a.score.check("written_report").elapsed


def test_paired_comparison_is_tighter_than_independent_runs():
    scenario = load_scenario_text(MINIMAL)
    paired = compare_staffing(
        scenario, replications=200, seed=3, staff_a={"field_officer": 1}, staff_b={"field_officer": 2}
    )
    a = simulate(scenario, replications=200, seed=3, staff={"field_officer": 1}).overall()
    b = simulate(scenario, replications=200, seed=4, staff={"field_officer": 2}).overall()
    unpaired = mean_ci([y - x for x, y in zip(a, b, strict=True)])
    assert paired.value > 0  # a second field officer helps
    assert paired.low > 0
    assert (paired.high - paired.low) < (unpaired.high - unpaired.low) / 2


def fixed(scenario_text: str, phone: float, written: float):
    text = scenario_text.replace(
        "report.phone: {dist: lognormal, median: 6, sigma: 0.5}",
        f"report.phone: {{dist: fixed, value: {phone}}}",
    ).replace(
        "report.written: {dist: lognormal, median: 22, sigma: 0.4}",
        f"report.written: {{dist: fixed, value: {written}}}",
    )
    return load_scenario_text(text.replace("{field_officer: 1}", "{field_officer: 2}"))


def test_branch_fires_only_when_the_check_is_not_done():
    late = run_replication(fixed(MINIMAL, 5, 25), seed=0, replication=0)
    assert late.released == {"arrival": 0, "escalation": 20}
    on_time = run_replication(fixed(MINIMAL, 5, 15), seed=0, replication=0)
    assert on_time.released == {"arrival": 0}
    assert on_time.score.check("written_report").elapsed == 15


def test_children_of_a_skipped_inject_are_skipped_and_their_checks_never_start():
    text = MINIMAL.replace(
        "synthetic:",
        "  - id: aftermath\n    after: {inject: escalation, delay: PT5M}\n    to: [commander]\n"
        "    kind: message\n    content: {zh-CN: 后续, en: Aftermath}\nsynthetic:",
    ).replace(
        "injects:",
        "  - id: commander_reacts\n    stage: on_site_control\n    owner_role: commander\n"
        "    starts: {inject: aftermath}\n    action: order.acknowledge\n    target: PT5M\n"
        "    hard_limit: PT10M\ninjects:",
    )
    run = run_replication(fixed(text, 5, 15), seed=0, replication=0)
    assert "aftermath" not in run.released
    assert run.score.check("commander_reacts").status == "not_started"
    assert run.score.overall == pytest.approx(100.0)


def test_any_valid_file_runs_including_unmodelled_checks_and_jitter():
    text = (
        MINIMAL.replace("    at: PT0M\n", "    at: PT5M\n    jitter: {low: PT1M, high: PT3M}\n")
        .replace("    report.phone: {dist: lognormal, median: 6, sigma: 0.5}\n", "")
        .replace("synthetic:\n  staff: {field_officer: 1}\n", "synthetic:\n")
    )
    scenario = load_scenario_text(text)
    result = simulate(scenario, replications=50, seed=2)
    releases = [run.released["arrival"] for run in result.replications]
    assert all(6 <= minute <= 8 for minute in releases)
    assert len(set(releases)) == 50
    summary = summarize(result)
    phone = next(c for c in summary["checks"] if c["id"] == "phone_report")
    assert phone["modelled"] is False
    # the unmodelled check is reported but left out of the overall score
    assert all(run.score.check("phone_report").rating == "U" for run in result.replications)
    assert max(result.overall()) == pytest.approx(100.0)


def test_scenario_without_a_synthetic_section_still_runs():
    text = MINIMAL[: MINIMAL.index("synthetic:")]
    result = simulate(load_scenario_text(text), replications=3, seed=1)
    assert result.overall() == []
    assert summarize(result)["overall"]["mean"]["value"] is None


def test_bad_arguments():
    scenario = load_scenario_text(MINIMAL)
    with pytest.raises(SimulationError):
        simulate(scenario, replications=0)
    with pytest.raises(SimulationError):
        simulate(scenario, replications=1, staff={"field_officer": 0})


def test_committed_json_schema_matches_the_model():
    assert schema_path().read_text(encoding="utf-8") == render_schema(), "run: python -m simulation.schema"
