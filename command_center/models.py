"""Every table of the application, imported in one place so Alembic and tests see the whole schema."""

from command_center.audit.models import AuditEntry
from command_center.auth.models import AccessToken, Department, User
from command_center.db import Base
from command_center.deadlines.models import Deadline
from command_center.incidents.models import Incident, IncidentEvent

__all__ = ["AccessToken", "AuditEntry", "Base", "Deadline", "Department", "Incident", "IncidentEvent", "User"]
