"""The simulation package's root exception and the scenario problems a drill organizer can act on."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Problem", "ScenarioError", "SimulationError"]


class SimulationError(Exception):
    """Root of every error the simulation package raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a scenario file, located well enough to fix it.

    ``line`` is 1-based, or ``None`` when the problem is about the file as a whole (missing, not text).
    """

    file: str
    line: int | None
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        field = f" {self.field}:" if self.field else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}:{field} {self.message}{hint}"


class ScenarioError(SimulationError):
    """A scenario file or model that cannot be used; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        first = str(self.problems[0]) if self.problems else "invalid scenario"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(first + more)
