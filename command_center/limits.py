"""Limits every request is held to before any work: ids in the database's range, bounded strings, no
control characters.

Ids are ``INTEGER`` columns (32-bit on PostgreSQL), so an id outside that range can name nothing; it is
refused as a validation error instead of reaching the driver (which used to answer 500 with a traceback).
Every request body derives from :class:`RequestBody`: strings without an explicit ``max_length`` get
:data:`DEFAULT_MAX_STRING`, and no string, however deep in lists or dicts, may carry a control character.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from command_center.text import control_character

#: The largest value of a database id (PostgreSQL ``INTEGER``).
MAX_ID = 2**31 - 1
#: Strings in request bodies that do not say otherwise.
DEFAULT_MAX_STRING = 4000

Id = Annotated[int, Field(ge=1, le=MAX_ID, description="a database id")]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="a database id")]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="a database id")]


def _refuse_control_characters(value: Any) -> None:
    if isinstance(value, str):
        found = control_character(value)
        if found is not None:
            raise PydanticCustomError(
                "control_character",
                "contains the control character {character}; remove it",
                {"character": found},
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_control_characters(key)
            _refuse_control_characters(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _refuse_control_characters(item)


class RequestBody(BaseModel):
    """Base of every request body: unknown fields refused, strings bounded, control characters refused."""

    model_config = ConfigDict(extra="forbid", str_max_length=DEFAULT_MAX_STRING)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        _refuse_control_characters(value)
        return value
