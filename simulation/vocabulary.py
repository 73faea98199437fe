"""The names a scenario may use: stages, roles, the actions the live system records and the facts they carry.

Kept apart from the models (``simulation.scenario``) and the rules that relate them
(``simulation.validation``) so that both read the same lists without importing each other.
"""

from __future__ import annotations

__all__ = ["ACTIONS", "ACTION_FIELDS", "COLLECTIVE_MIN_HEADCOUNT", "ROLES", "STAGES", "UNRECORDED_ACTIONS"]

STAGES = ("information_report", "on_site_control", "de_escalation", "response_to_demands", "follow_up")
ROLES = ("admin", "commander", "duty_officer", "field_officer", "organizer", "liaison", "evaluator")

#: Actions the live system never records, with what to check instead. An incident is at the
#: information-report stage from the moment it is created; nobody ever "enters" it, so a check on it could
#: only ever be missed.
UNRECORDED_ACTIONS = {
    "stage.information_report": (
        "an incident is at information_report from its creation, so nobody enters it; "
        "check report.phone or report.written instead"
    ),
}

#: What responders do in the live system (DESIGN.md section 6), every one written on the incident timeline.
ACTIONS = (
    "report.phone",
    "report.written",
    *(f"stage.{stage}" for stage in STAGES if f"stage.{stage}" not in UNRECORDED_ACTIONS),
    "zones.record",
    "team.assemble",
    "task.acknowledge",
    "task.complete",
    "order.acknowledge",
    "handover.accept",
    "demands.answer",
    "followup.arrange",
)

#: The facts an action carries, which a check's ``required_fields`` may ask for; other actions carry none.
#: The live system reads the same names off the timeline (``command_center.drills.service.FIELDS_OF``).
ACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "report.written": ("headcount", "demands", "dynamics"),
    "zones.record": ("cordon", "buffer", "dialogue"),
    "team.assemble": ("section_staff", "counsellor", "legal_adviser"),
}

#: DOMAIN.md: a collective petition (集体访) is 5 or more people; the live system refuses a smaller one.
COLLECTIVE_MIN_HEADCOUNT = 5
