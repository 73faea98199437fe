"""Scenario files the live system could not use are refused, every problem in one pass (issue 20)."""

from __future__ import annotations

import pytest
from sim_helpers import MINIMAL

from simulation import ScenarioError, load_scenario_text

cli = pytest.importorskip("command_center.cli")


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def problems(text: str):
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, "drill.yaml")
    return info.value.problems


def test_a_misspelt_required_field_is_refused_with_the_fields_the_action_carries():
    text = MINIMAL.replace("[headcount, demands, dynamics]", "[headcount, demnads, dynamics]")
    (problem,) = problems(text)
    assert problem.field == "checks[1].required_fields[1]"
    assert "demnads" in problem.message
    assert problem.line == line_of(text, "demnads")
    assert "headcount, demands, dynamics" in problem.hint


def test_required_fields_on_an_action_that_carries_none_are_refused():
    text = MINIMAL.replace(
        "    action: report.phone\n", "    action: report.phone\n    required_fields: [headcount]\n"
    )
    (problem,) = problems(text)
    assert problem.field == "checks[0].required_fields[0]"
    assert "carries no fields" in problem.hint


def test_a_check_on_an_action_the_live_system_never_records_is_refused():
    text = MINIMAL.replace("    action: report.phone\n", "    action: stage.information_report\n")
    (problem,) = problems(text)
    assert problem.field == "checks[0].action"
    assert "never records" in problem.message
    assert "report.phone" in problem.hint
    assert problem.line == line_of(text, "stage.information_report")


def test_a_collective_petition_of_fewer_than_five_is_refused():
    text = MINIMAL.replace("incident: {headcount: 30}", "incident: {headcount: 2}")
    (problem,) = problems(text)
    assert problem.field == "injects[0].incident.headcount"
    assert "5 or more" in problem.message and problem.line == line_of(text, "headcount: 2")


def test_a_negative_weight_has_a_hint():
    text = MINIMAL.replace("    weight: 2\n    critical: true", "    weight: -1\n    critical: true")
    (problem,) = problems(text)
    assert problem.field == "checks[0].weight"
    assert "more than 0" in problem.hint


OMISSION = "  staff: {field_officer: 1}\n  field_omission: {report.written: 1.5}\n"


def test_an_omission_probability_above_one_is_refused_with_a_hint():
    text = MINIMAL.replace("  staff: {field_officer: 1}\n", OMISSION)
    (problem,) = problems(text)
    assert problem.field == "synthetic.field_omission.report.written"
    assert "0 to 1" in problem.hint


MULTI = (
    MINIMAL.replace("notice: double_blind", "notise: double_blind")
    .replace("[headcount, demands, dynamics]", "[headcount, demnads, dynamics]")
    .replace("    action: report.phone\n", "    action: stage.information_report\n")
    .replace("    weight: 2\n    critical: true", "    weight: -1\n    critical: true")
    .replace("  staff: {field_officer: 1}\n", OMISSION)
    .replace("check: written_report, status", "check: writen_report, status")
)

#: field -> a line of MULTI the problem is on
EXPECTED = {
    "notise": "notise:",
    "notice": "schema_version",
    "checks[0].action": "stage.information_report",
    "checks[0].weight": "weight: -1",
    "checks[1].required_fields[1]": "demnads",
    "injects[1].when.check": "writen_report",
    "synthetic.field_omission.report.written": "field_omission",
}


def test_every_problem_of_a_multi_error_file_in_one_pass():
    found = problems(MULTI)
    assert {p.field for p in found} == set(EXPECTED)
    for problem in found:
        assert problem.line == line_of(MULTI, EXPECTED[problem.field]), problem
        assert problem.hint, problem


def test_cli_validate_reports_every_problem_with_file_line_field_and_hint(capsys, tmp_path):
    bad = tmp_path / "multi.yaml"
    bad.write_text(MULTI, encoding="utf-8")
    code = cli.main(["drill", "validate", str(bad)])
    _, err = capsys.readouterr()
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == len(EXPECTED)
    for field, needle in EXPECTED.items():
        expected = f"{bad}:{line_of(MULTI, needle)}: {field}:"
        assert any(line.startswith(expected) and "(hint: " in line for line in lines), (expected, lines)


@pytest.mark.parametrize(
    ("broken", "replacement"),
    [
        ("    target: PT10M\n", "    target PT10M\n    # the target of the phone report\n\n"),
        ("action: report.phone", 'action: "report.phone'),
        ("departments: [section, police]", "departments: [section, police\n# partners\n"),
    ],
    ids=["missing-colon", "unclosed-quote", "unclosed-list"],
)
def test_a_yaml_syntax_error_is_reported_on_the_line_that_is_wrong(broken, replacement):
    text = MINIMAL.replace(broken, replacement, 1)
    (problem,) = problems(text)
    assert "not valid YAML" in problem.message
    assert problem.line == line_of(text, replacement.strip().splitlines()[0])


def test_bad_indentation_is_still_reported_on_its_own_line():
    text = MINIMAL.replace("    weight: 2\n    critical: true", "    weight: 2\n   critical: true")
    (problem,) = problems(text)
    assert problem.line == line_of(text, "   critical: true")


def test_scenario_and_validation_do_not_import_each_other():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("simulation")
    assert graph.find_shortest_chain(importer="simulation.validation", imported="simulation.scenario") is None
