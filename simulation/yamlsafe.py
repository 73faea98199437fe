"""Safe YAML with a budget: a few hundred bytes must not be able to expand into millions of nodes.

PyYAML's safe loader builds no objects of arbitrary types, but it follows aliases: ``&a [*a, *a, ...]``
nested ten deep is a few hundred bytes and a billion nodes once anything walks it (validation, the
duplicate-key check). :class:`BoundedLoader` counts, while composing, every node as it would be counted
after expanding aliases, the aliases themselves and the nesting depth, and stops at the first budget
passed with an error that names it and its line. A recursive alias (``&a [*a]``) is refused the same way
instead of building a cyclic structure that every later walk would recurse into. Text with control
characters (possible through YAML's escapes) is refused too, for the exports that show it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import yaml
from yaml.error import Mark

if TYPE_CHECKING:
    from yaml._yaml import Mark as CMark

    # Events carry the pure-Python mark or, from the C parser, libyaml's; both have ``line``.
    AnyMark: TypeAlias = Mark | CMark

__all__ = ["BoundedLoader", "Budget", "BudgetExceeded", "compose_and_load"]

# C0 controls but tab, line feed and carriage return; DEL; C1 controls (YAML's escapes can produce them).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class Budget:
    """Limits generous for any real scenario file (the shipped ones have a few hundred nodes)."""

    nodes: int = 20_000  # after expanding aliases
    aliases: int = 200
    depth: int = 50


class BudgetExceeded(yaml.YAMLError):
    """The document passes a budget; carries the mark, the problem and a hint like PyYAML's errors."""

    def __init__(self, problem: str, mark: AnyMark | None, hint: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark
        self.context = None
        self.hint = hint

    def __str__(self) -> str:
        where = f" (line {self.problem_mark.line + 1})" if self.problem_mark is not None else ""
        return f"{self.problem}{where}"


class BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses documents over a :class:`Budget` while composing them."""

    def __init__(self, stream: str, budget: Budget | None = None) -> None:
        super().__init__(stream)
        self.budget = budget or Budget()
        self._expanded = 0
        self._aliases = 0
        self._depth = 0
        self._sizes: dict[str, int] = {}
        self._open: set[str] = set()

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # types-PyYAML leaves Parser.peek_event unannotated; it returns the next yaml.Event.
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event, parent, index)
        self._depth += 1
        if self._depth > self.budget.depth:
            raise BudgetExceeded(
                f"nested more than {self.budget.depth} levels deep",
                event.start_mark,
                "a scenario needs only a few levels; is this a scenario file?",
            )
        start = self._expanded
        self._grow(1, event.start_mark)
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            self._open.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor is not None:
                self._open.discard(anchor)
        if anchor is not None:
            self._sizes[anchor] = self._expanded - start
        if isinstance(node, yaml.ScalarNode):
            found = _CONTROL.search(node.value)
            if found is not None:
                # A double-quoted "\x01" is valid YAML but no document (the review's .docx) can hold it.
                raise BudgetExceeded(
                    f"the text contains the control character U+{ord(found.group()):04X}",
                    node.start_mark,
                    "remove it; only tabs and line breaks may appear in text",
                )
        return node

    def _alias(self, event: yaml.AliasEvent, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if event.anchor in self._open:
            raise BudgetExceeded(
                f"the alias *{event.anchor} refers to the node that contains it (a recursive alias)",
                event.start_mark,
                f"an alias cannot repeat its own anchor &{event.anchor}; write the content out",
            )
        self._aliases += 1
        if self._aliases > self.budget.aliases:
            raise BudgetExceeded(
                f"more than {self.budget.aliases} aliases",
                event.start_mark,
                "write the repeated content out instead of using so many aliases",
            )
        self._grow(self._sizes.get(event.anchor or "", 1), event.start_mark)
        return super().compose_node(parent, index)

    def _grow(self, count: int, mark: AnyMark | None) -> None:
        self._expanded += count
        if self._expanded > self.budget.nodes:
            raise BudgetExceeded(
                f"the document expands to more than {self.budget.nodes} nodes once aliases are followed",
                mark,
                "aliases that repeat aliases multiply the content; write the content out instead",
            )


def compose_and_load(text: str, budget: Budget | None = None) -> tuple[yaml.Node | None, Any]:
    """Compose ``text`` once within ``budget`` and build Python data from the same node tree."""
    loader = BoundedLoader(text, budget)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return root, data
