"""The scenario model, schema version 1 (DESIGN.md section 6): what a drill releases and what it checks.

Structural rules (types, required fields, unknown fields, durations) live in the pydantic models; rules that
relate parts of the file (references, cycles, timings) are in ``semantic_problems`` so that the loader can
point at the exact line of each. ``Scenario.model_validate`` runs both unless the validation context says
``{"semantic": False}`` (the loader's choice, because it reports them itself with line numbers).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from simulation.durations import DURATION_PATTERN, format_duration, parse_duration
from simulation.validation import semantic_problems
from simulation.vocabulary import ACTIONS, ROLES, STAGES

__all__ = [
    "ACTIONS",
    "ROLES",
    "STAGES",
    "After",
    "Check",
    "CheckStart",
    "Distribution",
    "Duration",
    "Incident",
    "Inject",
    "Jitter",
    "Location",
    "Scenario",
    "Synthetic",
    "Translated",
    "When",
    "minutes",
    "scenario_json_schema",
]


def _parse_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return parse_duration(value)


Duration = Annotated[
    timedelta,
    PlainValidator(_parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "examples": ["PT10M", "PT1H30M"]}),
]
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]*$", max_length=80)]


def minutes(value: timedelta) -> float:
    """Scenario time is kept in minutes (floats) inside the engine."""
    return value.total_seconds() / 60.0


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Translated(_Model):
    """Text in both languages the users work in; both are required."""

    zh_cn: str = Field(alias="zh-CN", min_length=1)
    en: str = Field(min_length=1)


class Location(_Model):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Incident(_Model):
    """The drill-marked incident an ``incident`` inject creates."""

    headcount: int = Field(ge=0)
    location: Location | None = None
    address: Translated | None = None
    demands: Translated | None = None


class Jitter(_Model):
    """A uniform random shift of the release time, drawn once per run from the run's seed."""

    low: Duration = timedelta(0)
    high: Duration = timedelta(0)


class After(_Model):
    inject: Identifier
    delay: Duration = timedelta(0)


class When(_Model):
    """Release the inject only if, at the moment it would be released, the check has this status.

    ``missed``: the check is not done yet; ``done``: it is done; ``late``: its target has passed and it was
    not done within the target (done late, or not done at all).
    """

    check: Identifier
    status: Literal["missed", "done", "late"] = "missed"


class Inject(_Model):
    """Something the drill control releases to the responders: an incident, a message, an order, ..."""

    id: Identifier
    at: Duration | None = None
    after: After | None = None
    jitter: Jitter = Jitter()
    when: When | None = None
    to: list[str] = Field(min_length=1)
    #: ``video``: a synthetic body-cam stream of the scene (its ``content`` over the picture), linked to the
    #: drill incident and shown on the video wall.
    kind: Literal["incident", "message", "order", "task", "call", "opinion", "video"]
    content: Translated
    incident: Incident | None = None


class CheckStart(_Model):
    inject: Identifier


class Check(_Model):
    """What the responders must do, and by when; the clock starts when ``starts.inject`` is released."""

    id: Identifier
    title: Translated | None = None
    stage: Literal[STAGES]  # type: ignore[valid-type]
    owner_role: str = Field(min_length=1)
    department: str | None = None
    starts: CheckStart
    action: str
    required_fields: list[str] = Field(default_factory=list)
    target: Duration
    grace: Duration = timedelta(0)
    hard_limit: Duration
    weight: float = Field(default=1.0, gt=0)
    critical: bool = False


class Lognormal(_Model):
    dist: Literal["lognormal"]
    median: float = Field(gt=0)
    sigma: float = Field(ge=0)


class Exponential(_Model):
    dist: Literal["exponential"]
    mean: float = Field(gt=0)


class Uniform(_Model):
    dist: Literal["uniform"]
    low: float = Field(ge=0)
    high: float = Field(ge=0)


class Triangular(_Model):
    dist: Literal["triangular"]
    low: float = Field(ge=0)
    mode: float = Field(ge=0)
    high: float = Field(ge=0)


class Fixed(_Model):
    dist: Literal["fixed"]
    value: float = Field(ge=0)


Distribution = Annotated[Lognormal | Exponential | Uniform | Triangular | Fixed, Field(discriminator="dist")]


class Synthetic(_Model):
    """The responder model for ``drill simulate``: staffing per role, response times per action (minutes).

    ``field_omission`` gives, per action, the probability that each of a check's required fields is left out.
    """

    staff: dict[str, int] = Field(default_factory=dict)
    response_time: dict[str, Distribution] = Field(default_factory=dict)
    field_omission: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)


class Scenario(_Model):
    """A drill scenario, schema version 1."""

    schema_version: Literal[1]
    id: Identifier
    title: Translated
    description: Translated | None = None
    category: Literal[
        "collective_petition", "skip_level_petition", "disruptive_petition", "extreme_behaviour"
    ]
    notice: Literal["double_blind", "announced"]
    departments: list[str] = Field(min_length=1)
    rubric_version: Literal[1]
    checks: list[Check] = Field(min_length=1)
    injects: list[Inject] = Field(min_length=1)
    synthetic: Synthetic | None = None

    @model_validator(mode="after")
    def _semantics(self, info: ValidationInfo) -> Scenario:
        if (info.context or {}).get("semantic", True):
            found = semantic_problems(self)
            if found:
                raise ValueError("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg, _ in found))
        return self

    def inject(self, inject_id: str) -> Inject:
        """Return the inject with this id (``KeyError`` if there is none)."""
        for inject in self.injects:
            if inject.id == inject_id:
                return inject
        raise KeyError(inject_id)

    def check(self, check_id: str) -> Check:
        """Return the check with this id (``KeyError`` if there is none)."""
        for check in self.checks:
            if check.id == check_id:
                return check
        raise KeyError(check_id)


def scenario_json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of scenario files, generated from the model.

    Cross-references and timings (``semantic_problems``) cannot be expressed in it; editors get the shape.
    """
    schema = Scenario.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
