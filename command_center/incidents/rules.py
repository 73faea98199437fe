"""The section's working rules for incidents (DOMAIN.md), as data the rest of the code reads."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    collective_petition = "collective_petition"  # 集体访: 5 or more people together
    skip_level_petition = "skip_level_petition"  # 越级访
    disruptive_petition = "disruptive_petition"  # 缠访闹访
    extreme_behaviour = "extreme_behaviour"  # 极端行为: self-harm threats, blocking gates or roads


class Stage(StrEnum):
    information_report = "information_report"  # 信息报告
    on_site_control = "on_site_control"  # 现场管控
    de_escalation = "de_escalation"  # 情绪疏导
    response_to_demands = "response_to_demands"  # 诉求回应
    follow_up = "follow_up"  # 后续跟进


STAGES: tuple[Stage, ...] = tuple(Stage)


class ZoneKind(StrEnum):
    cordon = "cordon"  # 警戒区
    buffer = "buffer"  # 缓冲区
    dialogue = "dialogue"  # 对话区


class TeamRole(StrEnum):
    counsellor = "counsellor"  # 心理咨询师
    legal_adviser = "legal_adviser"  # 法律顾问
    section_staff = "section_staff"  # 信访干部


#: A soft working group is complete only with these (DOMAIN.md: emotional de-escalation): section staff,
#: a psychological counsellor and a legal adviser.
REQUIRED_TEAM_ROLES = frozenset({TeamRole.section_staff, TeamRole.counsellor, TeamRole.legal_adviser})

#: A written report is complete only with the core facts (DOMAIN.md: information report).
WRITTEN_REPORT_FIELDS = ("headcount", "demands", "dynamics")

#: The section's minimum for a collective petition (the default of ``CC_COLLECTIVE_MIN_HEADCOUNT``).
COLLECTIVE_MIN_HEADCOUNT = 5


def given(value: object) -> bool:
    """Is this fact present? Whitespace-only text is not a demand or a dynamic, only a blank form field."""
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None


CATEGORY_NAMES = {
    Category.collective_petition: ("集体访", "Collective petition"),
    Category.skip_level_petition: ("越级访", "Skip-level petition"),
    Category.disruptive_petition: ("缠访闹访", "Entangled / disruptive petition"),
    Category.extreme_behaviour: ("极端行为", "Extreme behaviour"),
}

STAGE_NAMES = {
    Stage.information_report: ("信息报告", "Information report"),
    Stage.on_site_control: ("现场管控", "On-site control"),
    Stage.de_escalation: ("情绪疏导", "Emotional de-escalation"),
    Stage.response_to_demands: ("诉求回应", "Response to demands"),
    Stage.follow_up: ("后续跟进", "Follow-up"),
}


def stage_index(stage: Stage | str) -> int:
    return STAGES.index(Stage(stage))
