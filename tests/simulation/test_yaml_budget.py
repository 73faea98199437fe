"""Scenario YAML within a budget (issue 12): alias bombs and recursive aliases are refused at once."""

from __future__ import annotations

from typing import Any

import pytest

from simulation import ScenarioError, load_scenario_text, shipped_scenario_files
from simulation.scenario import Scenario
from simulation.yamlsafe import Budget, BudgetExceeded, compose_and_load


def alias_bomb(levels: int = 9, fan_out: int = 9) -> str:
    """The classic "billion laughs": each level repeats the previous one ``fan_out`` times."""
    names = "abcdefghijklmnop"
    lines = ["schema_version: 1", "a: &a [" + ",".join(['"lol"'] * fan_out) + "]"]
    for level in range(1, levels):
        name, previous = names[level], names[level - 1]
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * fan_out) + "]")
    return "\n".join(lines) + "\n"


@pytest.fixture
def no_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if anything walks the document past the YAML layer (where the bomb used to go off)."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the document reached validation")

    monkeypatch.setattr(Scenario, "model_validate", refuse)


def test_a_429_byte_alias_bomb_is_refused_before_anything_expands_it(no_validation: None) -> None:
    bomb = alias_bomb()
    assert len(bomb.encode()) <= 429
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(bomb, "bomb.yaml")
    problem = caught.value.problems[0]
    assert problem.file == "bomb.yaml" and problem.line is not None
    assert "expands to more than" in problem.message and "aliases" in problem.hint


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("schema_version: 1\nloop: &loop [*loop]\n", 2),
        ("schema_version: 1\nloop: &loop\n  again: *loop\n", 3),
        ("schema_version: 1\nouter: &outer\n  - inner: [1, *outer]\n", 3),
    ],
)
def test_recursive_aliases_are_named(text: str, line: int, no_validation: None) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text, "loop.yaml")
    problem = caught.value.problems[0]
    assert "recursive alias" in problem.message and problem.line == line


def test_too_many_aliases_and_too_deep_nesting() -> None:
    many = "x: &x 1\ny: [" + ",".join(["*x"] * 201) + "]\n"
    with pytest.raises(BudgetExceeded, match="more than 200 aliases"):
        compose_and_load(many)
    deep = "[" * 51 + "]" * 51
    with pytest.raises(BudgetExceeded, match="nested more than 50 levels"):
        compose_and_load(deep)


def test_ordinary_anchors_and_shipped_scenarios_still_load() -> None:
    root, data = compose_and_load("base: &base {a: 1, b: [1, 2]}\ncopy: *base\n", Budget(nodes=20))
    assert data == {"base": {"a": 1, "b": [1, 2]}, "copy": {"a": 1, "b": [1, 2]}} and root is not None
    for path in shipped_scenario_files():
        compose_and_load(path.read_text(encoding="utf-8"))


def test_control_characters_in_text_are_refused() -> None:
    text = 'schema_version: 1\ntitle: {zh-CN: "堵门\\x01事件", en: Gate}\n'
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text, "ctl.yaml")
    problem = caught.value.problems[0]
    assert "U+0001" in problem.message and problem.line == 2
    assert compose_and_load("a: 'tab\tand\nlines'\n")[1] == {"a": "tab\tand lines"}
