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
from pydantic import BaseModel, ValidationError

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

_MODELS: dict[str, type[BaseModel]] = {
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
#: Valid stand-ins for broken top-level fields that no relation reads, so the relations are still checked.
_STAND_INS: dict[str, Any] = {
    "schema_version": 1,
    "rubric_version": 1,
    "id": "stand-in",
    "title": {"zh-CN": "-", "en": "-"},
    "description": None,
    "category": "collective_petition",
    "notice": "double_blind",
}
_BOUND_HINTS = {
    "greater_than": "write a number above {bound}",
    "greater_than_equal": "write a number of at least {bound}",
    "less_than": "write a number below {bound}",
    "less_than_equal": "write a number of at most {bound}",
}


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

    The broken checks and injects (and broken entries of ``synthetic``) are left out, unknown top-level
    fields dropped and broken top-level fields that no relation reads replaced by stand-ins; the rest is
    validated again. Problems are mapped back to the original positions, and references to a left-out
    entry are not reported (the entry's own problem already is). Only when ``departments``, ``checks`` or
    ``injects`` is broken as a whole is there nothing left to relate.
    """
    broken: dict[str, set[int]] = {"checks": set(), "injects": set()}
    drop_synthetic = False
    pruned = dict(data)
    synthetic = data.get("synthetic")
    synthetic_parts = (
        {k: dict(v) if isinstance(v, dict) else v for k, v in synthetic.items()}
        if isinstance(synthetic, dict)
        else None
    )
    items_of = {kind: _copied_items(data.get(kind)) for kind in broken}
    left_out: set[tuple[Any, ...]] = set()  # fields already reported, whose absence is no second problem
    for error in errors:
        loc = tuple(error["loc"])
        if len(loc) >= 2 and loc[0] in broken and isinstance(loc[1], int):
            kind, index = str(loc[0]), loc[1]
            if _drop_optional_field(items_of[kind], kind, index, loc[2:], error["type"]):
                left_out.add(loc[:3])
            else:
                broken[kind].add(index)
        elif len(loc) >= 3 and loc[0] == "synthetic" and synthetic_parts is not None:
            part = synthetic_parts.get(str(loc[1]))
            if isinstance(part, dict):
                part.pop(loc[2], None)
            else:
                drop_synthetic = True
        elif loc and loc[0] == "synthetic":
            drop_synthetic = True
        elif len(loc) == 1 and error["type"] == "extra_forbidden":
            pruned.pop(str(loc[0]), None)
        elif loc and loc[0] in _STAND_INS:
            pruned[str(loc[0])] = _STAND_INS[str(loc[0])]
        else:
            return []
    kept: dict[str, list[int]] = {}
    dropped_ids: set[Any] = set()
    for kind, bad in broken.items():
        items = items_of[kind]
        if items is None:
            return []
        kept[kind] = [index for index in range(len(items)) if index not in bad]
        pruned[kind] = [items[index] for index in kept[kind]]
        dropped_ids |= {items[index].get("id") if isinstance(items[index], dict) else None for index in bad}
    if drop_synthetic:
        pruned.pop("synthetic", None)
    elif synthetic_parts is not None:
        pruned["synthetic"] = synthetic_parts
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
        if loc[:3] in left_out:
            continue
        found.append((loc, message, hint))
    return found


def _copied_items(items: Any) -> list[Any] | None:
    if not isinstance(items, list):
        return None
    return [dict(item) if isinstance(item, dict) else item for item in items]


def _drop_optional_field(
    items: list[Any] | None, kind: str, index: int, rest: tuple[Any, ...], error_type: str
) -> bool:
    """Leave out a broken field of a check or inject that has a default, so the entry is still related.

    Returns ``False`` when the entry itself has to be left out (a required field is broken).
    """
    if items is None or index >= len(items) or not isinstance(items[index], dict) or not rest:
        return False
    name = rest[0]
    model = _MODELS[kind]
    field = next((f for n, f in model.model_fields.items() if (f.alias or n) == name), None)
    if error_type != "extra_forbidden" and (field is None or field.is_required()):
        return False
    items[index].pop(name, None)
    return True


def shipped_scenario_files() -> list[Path]:
    """Return the scenario YAML files shipped in the ``scenarios`` package, sorted by name."""
    folder = resources.files("scenarios")
    return sorted(Path(str(item)) for item in folder.iterdir() if item.name.endswith((".yaml", ".yml")))


def shipped_scenarios() -> list[Scenario]:
    """Load every shipped scenario."""
    return [load_scenario(path) for path in shipped_scenario_files()]


def _yaml_problem(filename: str, exc: yaml.YAMLError) -> Problem:
    """Name the line where the broken token starts, not where PyYAML noticed it.

    A scanner error ("while scanning a simple key": a missing ':'; an unclosed quote) and an unclosed flow
    list are noticed only at the next token, which may be lines further down past blank lines and
    comments; their context mark is where the token began. Block-structure errors (bad indentation) are
    noticed at the offending line itself, and their context mark is the enclosing block's first line.
    """
    problem_mark = getattr(exc, "problem_mark", None)
    context_mark = getattr(exc, "context_mark", None)
    context = getattr(exc, "context", None) or ""
    starts_at_context = context.startswith(("while scanning", "while parsing a flow"))
    mark = (context_mark if starts_at_context else None) or problem_mark or context_mark
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc)
    message = f"not valid YAML: {problem}" + (f" ({context})" if context else "")
    if problem_mark is not None and line is not None and problem_mark.line + 1 != line:
        message += f"; noticed at line {problem_mark.line + 1}"
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
    elif kind in _BOUND_HINTS and "field_omission" in loc:
        hint = "a probability: write a number from 0 to 1 (0.2 leaves each field out one time in five)"
    elif kind in _BOUND_HINTS and last == "weight":
        hint = "a weight is more than 0 (a check cannot count against the score); 1 is the usual weight"
    elif kind in _BOUND_HINTS:
        bound = next(iter((error.get("ctx") or {}).values()), "")
        hint = _BOUND_HINTS[kind].format(bound=bound)
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
