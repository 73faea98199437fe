"""Every table of the application, imported in one place so Alembic and tests see the whole schema."""

from command_center.audit.models import AuditEntry
from command_center.auth.models import AccessToken, Department, User
from command_center.db import Base

__all__ = ["AccessToken", "AuditEntry", "Base", "Department", "User"]
