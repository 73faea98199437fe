"""The roles of DESIGN.md section 3 and the identity every request and connection carries."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    commander = "commander"
    duty_officer = "duty_officer"
    field_officer = "field_officer"
    organizer = "organizer"
    liaison = "liaison"
    evaluator = "evaluator"


#: The section itself is a department; it leads every "1 + N" task force.
SECTION_DEPARTMENT = "section"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the authenticated user as the hub and the services see it (no ORM object)."""

    id: int
    name: str
    role: Role
    department: str
    display_name: str = ""
    token_id: str = ""

    def public(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "role": self.role.value, "department": self.department}
