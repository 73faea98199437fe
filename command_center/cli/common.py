"""Helpers shared by the CLI commands."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from command_center.errors import BadRequest
from command_center.settings import Settings


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; a bad value becomes one readable line per problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            name = f"CC_{field.upper()}" if field else "settings"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {message}" if field else message)
        raise BadRequest("invalid settings: " + "; ".join(problems)) from exc
