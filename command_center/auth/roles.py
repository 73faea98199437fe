"""The roles of DESIGN.md section 3 and the identity every request and connection carries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    commander = "commander"
    duty_officer = "duty_officer"
    field_officer = "field_officer"
    organizer = "organizer"
    liaison = "liaison"
    evaluator = "evaluator"
    #: The platform acting on its own (drill control): a real row, never a sign-in (auth/system.py).
    system = "system"


#: Roles a person can be given; ``system`` belongs to the platform's own actors only.
HUMAN_ROLES = tuple(r for r in Role if r is not Role.system)


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
    #: When the token this identity came from ends (None: not from a token); open sockets close then.
    expires_at: datetime | None = None

    def public(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "role": self.role.value, "department": self.department}
