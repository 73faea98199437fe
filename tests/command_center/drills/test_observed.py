"""What the live system hands the scorer: each timeline entry with its actor's role and department."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from command_center.drills.service import observed
from command_center.incidents.models import IncidentEvent
from simulation import InjectReleased, load_scenario_text, score

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
QUICK = Path(__file__).parent / "quick-drill.yaml"


def _event(action: str, minutes: float, role: str, department: str = "section") -> IncidentEvent:
    return IncidentEvent(
        incident_id=7,
        at=T0 + timedelta(minutes=minutes),
        action=action,
        actor_id=3,
        actor_name="someone",
        actor_role=role,
        actor_department=department,
        detail={},
    )


def test_a_report_by_another_role_stays_on_the_log_without_satisfying_the_check() -> None:
    scenario = load_scenario_text(QUICK.read_text(encoding="utf-8"), QUICK.name)
    released = [InjectReleased("arrival", T0)]
    by_commander = observed(_event("report.phone", 3, "commander"))
    assert (by_commander.role, by_commander.department) == ("commander", "section")
    assert score(scenario, released, [by_commander]).check("phone_report").rating == "U"
    by_field = observed(_event("report.phone", 4, "field_officer"))
    assert score(scenario, released, [by_commander, by_field]).check("phone_report").rating == "P"
