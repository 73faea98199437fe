"""Bad scenario files are refused with file, line, field and a hint; never with a traceback."""

from __future__ import annotations

import pytest
from sim_helpers import MINIMAL

from simulation import ScenarioError, load_scenario, load_scenario_text


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in text")


def problems(text: str):
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, "drill.yaml")
    return info.value.problems


def test_minimal_scenario_loads():
    scenario = load_scenario_text(MINIMAL, "minimal.yaml")
    assert scenario.id == "minimal"
    assert scenario.check("phone_report").target.total_seconds() == 600
    assert scenario.title.zh_cn == "最小场景"


def test_malformed_yaml_names_the_line():
    text = MINIMAL.replace("    weight: 2\n    critical: true", "    weight: 2\n   critical: true")
    (problem,) = problems(text)
    assert problem.file == "drill.yaml"
    assert "not valid YAML" in problem.message
    assert problem.line in (line_of(text, "critical: true") - 1, line_of(text, "critical: true"))
    assert problem.hint


def test_wrong_type():
    text = MINIMAL.replace("    weight: 2\n    critical", "    weight: heavy\n    critical", 1)
    (problem,) = problems(text)
    assert (problem.line, problem.field) == (line_of(text, "weight: heavy"), "checks[0].weight")
    assert "number" in problem.hint


def test_unknown_field_lists_the_allowed_ones():
    text = MINIMAL.replace("    target: PT10M", "    targt: PT10M", 1)
    found = problems(text)
    unknown = next(p for p in found if "unknown field" in p.message)
    assert unknown.line == line_of(text, "targt")
    assert unknown.field == "checks[0].targt"
    assert "target" in unknown.hint and "hard_limit" in unknown.hint
    missing = next(p for p in found if "required field 'target'" in p.message)
    assert missing.field == "checks[0].target"


def test_duration_that_is_not_iso_8601():
    text = MINIMAL.replace("target: PT30M", "target: 30 min")
    (problem,) = problems(text)
    assert problem.line == line_of(text, "target: 30 min")
    assert problem.field == "checks[1].target"
    assert "ISO-8601" in problem.message and "PT10M" in problem.hint


def test_yaml_sexagesimal_is_not_a_duration():
    text = MINIMAL.replace("    at: PT0M", "    at: 10:00")
    (problem,) = problems(text)
    assert problem.field == "injects[0].at"
    assert problem.line == line_of(text, "at: 10:00")


def test_hard_limit_before_target():
    text = MINIMAL.replace("hard_limit: PT30M", "hard_limit: PT8M")
    (problem,) = problems(text)
    assert (problem.line, problem.field) == (line_of(text, "hard_limit: PT8M"), "checks[0].hard_limit")
    assert "before target" in problem.message


def test_hard_limit_inside_grace():
    text = MINIMAL.replace("hard_limit: PT30M", "hard_limit: PT12M")
    (problem,) = problems(text)
    assert "target + grace" in problem.message


def test_unknown_check_referenced_by_an_inject():
    text = MINIMAL.replace("when: {check: written_report", "when: {check: writen_report")
    (problem,) = problems(text)
    assert problem.line == line_of(text, "writen_report")
    assert problem.field == "injects[1].when.check"
    assert "unknown check 'writen_report'" in problem.message
    assert "written_report" in problem.hint


def test_cycle_in_after_chains():
    text = MINIMAL + (
        "  - id: a\n    after: {inject: b}\n    to: [commander]\n    kind: message\n"
        "    content: {zh-CN: 甲, en: A}\n"
        "  - id: b\n    after: {inject: a}\n    to: [commander]\n    kind: message\n"
        "    content: {zh-CN: 乙, en: B}\n"
    )
    text = text.replace("synthetic:\n  staff: {field_officer: 1}\n", "")
    text = text.replace("  response_time:\n    report.phone: {dist: lognormal, median: 6, sigma: 0.5}\n", "")
    text = text.replace("    report.written: {dist: lognormal, median: 22, sigma: 0.4}\n", "")
    (problem,) = problems(text)
    assert "cycle" in problem.message
    assert ("a -> b -> a" in problem.message) or ("b -> a -> b" in problem.message)
    assert problem.line in (line_of(text, "after: {inject: b}"), line_of(text, "after: {inject: a}"))
    assert "'at'" in problem.hint


def test_missing_translation():
    text = MINIMAL.replace("content: {zh-CN: 人数增加, en: Crowd grows}", "content: {zh-CN: 人数增加}")
    (problem,) = problems(text)
    assert problem.line == line_of(text, "content: {zh-CN: 人数增加}")
    assert problem.field == "injects[1].content.en"
    assert "missing translation 'en'" in problem.message
    assert "zh-CN and en" in problem.hint


def test_unknown_distribution():
    text = MINIMAL.replace("dist: lognormal, median: 6", "dist: gamma, median: 6")
    (problem,) = problems(text)
    assert problem.line == line_of(text, "dist: gamma")
    assert "lognormal" in problem.hint


def test_unknown_inject_in_check_start_and_unknown_action():
    text = MINIMAL.replace(
        "starts: {inject: arrival}\n    action: report.phone",
        "starts: {inject: arival}\n    action: report.fone",
    )
    found = problems(text)
    assert {p.field for p in found} == {"checks[0].starts.inject", "checks[0].action"}
    assert {p.line for p in found} == {line_of(text, "arival"), line_of(text, "report.fone")}


def test_every_problem_is_reported():
    text = MINIMAL.replace("hard_limit: PT30M", "hard_limit: PT8M").replace(
        "when: {check: written_report", "when: {check: nothing"
    )
    assert len(problems(text)) == 2


def test_relations_are_checked_even_when_some_entries_are_broken():
    text = (
        MINIMAL.replace("    weight: 2\n    critical", "    weight: heavy\n    critical", 1)
        .replace("hard_limit: PT60M", "hard_limit: PT20M")
        .replace("after: {inject: arrival, delay", "after: {inject: arrivals, delay")
    )
    found = problems(text)
    assert [p.field for p in found] == ["checks[0].weight", "injects[1].after.inject", "checks[1].hard_limit"]
    assert found[2].line == line_of(text, "hard_limit: PT20M")


def test_references_to_a_broken_entry_are_not_reported_twice():
    text = MINIMAL.replace("target: PT30M", "target: half an hour")  # written_report is broken
    found = problems(text)
    assert [p.field for p in found] == ["checks[1].target"]  # not "unknown check written_report"


def test_duplicate_keys_are_refused():
    text = MINIMAL.replace(
        "    weight: 2\n    critical: true", "    weight: 2\n    weight: 3\n    critical: true"
    )
    (problem,) = problems(text)
    assert problem.line == line_of(text, "weight: 3")
    assert "twice" in problem.message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("- a\n- b\n", "mapping"),
        ("just a sentence\n", "mapping"),
        ("schema_version: 2\n", "schema_version"),
    ],
)
def test_not_a_scenario(text, message):
    found = problems(text)
    assert any(message in f"{p.field} {p.message}" for p in found)


def test_files_on_disk(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenario(missing)
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ScenarioError) as info:
        load_scenario(garbage)
    assert info.value.problems[0].file == str(garbage)
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"id: x\x00\x00")
    with pytest.raises(ScenarioError, match="binary"):
        load_scenario(nul)
    with pytest.raises(ScenarioError, match="directory"):
        load_scenario(tmp_path)


def test_problem_renders_as_file_line_field_message_hint():
    text = MINIMAL.replace("hard_limit: PT30M", "hard_limit: PT8M")
    (problem,) = problems(text)
    assert str(problem) == (
        f"drill.yaml:{problem.line}: checks[0].hard_limit: hard_limit is before target "
        "(hint: the hard limit must be at least target + grace)"
    )


def test_model_validate_runs_semantic_rules_too():
    import yaml
    from pydantic import ValidationError

    from simulation import Scenario

    data = yaml.safe_load(MINIMAL.replace("hard_limit: PT30M", "hard_limit: PT8M"))
    with pytest.raises(ValidationError, match="hard_limit is before target"):
        Scenario.model_validate(data)
