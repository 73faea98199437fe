"""Write the scenario JSON Schema into the ``scenarios`` package: ``python -m simulation.schema``.

A test compares the committed file with ``render_schema()`` so the two cannot drift apart.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

from simulation.scenario import scenario_json_schema

__all__ = ["render_schema", "schema_path", "write_schema"]


def render_schema() -> str:
    """The schema file's exact text."""
    return json.dumps(scenario_json_schema(), ensure_ascii=False, indent=2) + "\n"


def schema_path() -> Path:
    """Where the schema lives: ``scenarios/scenario.schema.json``."""
    return Path(str(resources.files("scenarios"))) / "scenario.schema.json"


def write_schema(path: Path | None = None) -> Path:
    """Write the schema (to ``schema_path()`` unless told otherwise) and return where it went."""
    target = path or schema_path()
    target.write_text(render_schema(), encoding="utf-8")
    return target


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(f"wrote {write_schema()}\n")
