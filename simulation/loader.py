"""Read scenario files: YAML text to a validated ``Scenario``, or every problem with its line and a hint.

Problems come in two kinds: structure (types, required and unknown fields, durations; from pydantic) and
relations (references, cycles, timings; ``simulation.validation``). Both are reported in one pass: entries
with structural problems are left out while the relations of the rest are checked.

Line numbers come from PyYAML's composed node tree: each pydantic error location (``checks.0.target``) is
walked down the nodes to the deepest one that exists, so a missing field points at its parent mapping and an
unknown field at its own key.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from simulation.errors import Problem, ScenarioError
from simulation.scenario import (
    After,
    Check,
    CheckStart,
    Exponential,
    Fixed,
    Incident,
    Inject,
    Jitter,
    Location,
    Lognormal,
    Scenario,
    Synthetic,
    Translated,
    Triangular,
    Uniform,
    When,
)
from simulation.validation import Found, semantic_problems
from simulation.yamlsafe import compose_and_load

__all__ = ["load_scenario", "load_scenario_text", "shipped_scenario_files", "shipped_scenarios"]

_MODELS: dict[str, type] = {
    "": Scenario,
    "checks": Check,
    "injects": Inject,
    "title": Translated,
    "content": Translated,
    "description": Translated,
    "address": Translated,
    "demands": Translated,
    "starts": CheckStart,
    "after": After,
    "when": When,
    "jitter": Jitter,
    "incident": Incident,
    "location": Location,
    "synthetic": Synthetic,
    "lognormal": Lognormal,
    "exponential": Exponential,
    "uniform": Uniform,
    "triangular": Triangular,
    "fixed": Fixed,
}
_MAX_BYTES = 1_000_000


def load_scenario(path: str | Path) -> Scenario:
    """Load and validate one scenario file; raise ``ScenarioError`` listing every problem."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ScenarioError([Problem(name, None, "", "no such file", "check the path")]) from None
    except IsADirectoryError:
        raise ScenarioError([Problem(name, None, "", "is a directory", "give a .yaml file")]) from None
    except OSError as exc:
        raise ScenarioError([Problem(name, None, "", f"cannot read the file: {exc.strerror}", "")]) from exc
    if len(raw) > _MAX_BYTES:
        raise ScenarioError([Problem(name, None, "", "file is larger than 1 MB", "is this a scenario file?")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problem = Problem(name, None, "", "not UTF-8 text", "save the scenario as UTF-8 YAML")
        raise ScenarioError([problem]) from exc
    return load_scenario_text(text, name)


def load_scenario_text(text: str, filename: str = "<scenario>") -> Scenario:
    """Validate scenario YAML text; ``filename`` is only used in the problems reported."""
    if "\x00" in text:
        raise ScenarioError([Problem(filename, None, "", "binary data, not YAML text", "give a .yaml file")])
    try:
        root, data = compose_and_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError([_yaml_problem(filename, exc)]) from exc
    if root is None or data is None:
        raise ScenarioError([Problem(filename, 1, "", "the file is empty", "start from a shipped scenario")])
    if not isinstance(data, dict):
        raise ScenarioError(
            [
                Problem(
                    filename,
                    root.start_mark.line + 1,
                    "",
                    f"the file must be a mapping of fields, not a {type(data).__name__}",
                    "begin with 'schema_version: 1' and 'id: ...' at the left margin",
                )
            ]
        )
    problems = _duplicate_keys(filename, root)
    try:
        scenario = Scenario.model_validate(data, context={"semantic": False})
    except ValidationError as exc:
        errors = exc.errors()
        problems += [_pydantic_problem(filename, root, error) for error in errors]
        for loc, message, hint in _semantics_despite(data, errors):
            problems.append(Problem(filename, _line(root, loc), _field(loc), message, hint))
        raise ScenarioError(problems) from None
    for loc, message, hint in semantic_problems(scenario):
        problems.append(Problem(filename, _line(root, loc), _field(loc), message, hint))
    if problems:
        raise ScenarioError(problems)
    return scenario


def _semantics_despite(data: dict[str, Any], errors: list[Any]) -> list[Found]:
    """Find cross-reference and timing problems even though some entries are structurally broken.

    The broken checks and injects (and a broken ``synthetic`` section) are left out and the rest validated
    again; problems are mapped back to the original positions, and references to a left-out entry are not
    reported (the entry's own problem already is). Broken top-level fields leave nothing to check.
    """
    broken: dict[str, set[int]] = {"checks": set(), "injects": set()}
    drop_synthetic = False
    for error in errors:
        loc = tuple(error["loc"])
        if len(loc) >= 2 and loc[0] in broken and isinstance(loc[1], int):
            broken[loc[0]].add(loc[1])
        elif loc and loc[0] == "synthetic":
            drop_synthetic = True
        else:
            return []
    pruned = dict(data)
    kept: dict[str, list[int]] = {}
    dropped_ids: set[Any] = set()
    for kind, bad in broken.items():
        items = data.get(kind)
        if not isinstance(items, list):
            return []
        kept[kind] = [index for index in range(len(items)) if index not in bad]
        pruned[kind] = [items[index] for index in kept[kind]]
        dropped_ids |= {items[index].get("id") if isinstance(items[index], dict) else None for index in bad}
    if drop_synthetic:
        pruned.pop("synthetic", None)
    try:
        scenario = Scenario.model_validate(pruned, context={"semantic": False})
    except ValidationError:
        return []
    found: list[Found] = []
    for loc, message, hint in semantic_problems(scenario):
        if "unknown inject" in message or "unknown check" in message:
            quoted = message.split("'")[1] if "'" in message else ""
            if (
                quoted in dropped_ids
                or None in dropped_ids
                or not all(isinstance(i, str) for i in dropped_ids)
            ):
                continue
        if loc and loc[0] in kept and len(loc) > 1 and isinstance(loc[1], int):
            loc = (loc[0], kept[str(loc[0])][loc[1]], *loc[2:])
        found.append((loc, message, hint))
    return found


def shipped_scenario_files() -> list[Path]:
    """Return the scenario YAML files shipped in the ``scenarios`` package, sorted by name."""
    folder = resources.files("scenarios")
    return sorted(Path(str(item)) for item in folder.iterdir() if item.name.endswith((".yaml", ".yml")))


def shipped_scenarios() -> list[Scenario]:
    """Load every shipped scenario."""
    return [load_scenario(path) for path in shipped_scenario_files()]


def _yaml_problem(filename: str, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = f"not valid YAML: {problem}" + (f" ({context})" if context else "")
    hint = getattr(exc, "hint", None) or "check indentation, colons and quotes around this line"
    return Problem(filename, line, "", message, hint)


def _duplicate_keys(filename: str, node: yaml.Node, loc: tuple[Any, ...] = ()) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key, value in node.value:
            if key.value in seen:
                problems.append(
                    Problem(
                        filename,
                        key.start_mark.line + 1,
                        _field((*loc, key.value)),
                        f"field {key.value!r} is given twice",
                        "keep one; YAML would silently use the last",
                    )
                )
            seen.add(key.value)
            problems += _duplicate_keys(filename, value, (*loc, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _duplicate_keys(filename, item, (*loc, index))
    return problems


def _line(root: yaml.Node, loc: tuple[Any, ...]) -> int:
    """Return the 1-based line of the deepest node along ``loc`` (segments that do not exist are skipped)."""
    node = root
    line = root.start_mark.line
    for segment in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(segment):
                    node, line = value, key.start_mark.line
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(segment, int) and segment < len(node.value):
            node = node.value[segment]
            line = node.start_mark.line
    return line + 1


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for segment in loc:
        out += f"[{segment}]" if isinstance(segment, int) else (f".{segment}" if out else str(segment))
    return out


def _pydantic_problem(filename: str, root: yaml.Node, error: Any) -> Problem:
    loc = tuple(error["loc"])
    kind = error["type"]
    message = str(error["msg"]).removeprefix("Value error, ")
    hint = ""
    last = loc[-1] if loc else ""
    if kind == "missing" and last in ("zh-CN", "en"):
        message, hint = f"missing translation {last!r}", "every text needs both zh-CN and en"
    elif kind == "missing":
        message, hint = f"required field {last!r} is missing", f"add '{last}: ...'"
    elif kind == "extra_forbidden":
        allowed = _allowed_fields(loc[:-1])
        message = f"unknown field {last!r}"
        hint = "remove it or fix the spelling" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
    elif "ISO-8601" in message:
        hint = "durations are ISO-8601: PT10M is 10 minutes, PT1H30M is 90 minutes, P1D is a day"
    elif kind == "literal_error":
        hint = "check the spelling against the allowed values"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        hint = "set 'dist' to lognormal, exponential, uniform, triangular or fixed"
    elif kind == "string_pattern_mismatch":
        hint = "ids use lower-case letters, digits, '_', '-' and '.', starting with a letter"
    elif kind.startswith(("int_", "float_")):
        hint = "write a plain number"
    elif kind in ("model_type", "dict_type"):
        hint = "this must be a mapping of 'field: value' lines"
    elif kind == "list_type":
        hint = "this must be a list, e.g. [a, b] or lines starting with '- '"
    elif kind == "too_short":
        hint = "the list must not be empty"
    elif kind.startswith("string_"):
        hint = "write text here"
    return Problem(filename, _line(root, loc), _field(loc), message, hint)


def _allowed_fields(parent: tuple[Any, ...]) -> list[str]:
    names = [segment for segment in parent if isinstance(segment, str)]
    key = names[-1] if names else ""
    model = _MODELS.get(key)
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]
