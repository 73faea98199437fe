"""Every table of the application, imported in one place so Alembic and tests see the whole schema."""

from command_center.audit.models import AuditEntry
from command_center.auth.models import AccessToken, Department, SignInThrottle, User
from command_center.db import Base
from command_center.deadlines.models import Deadline
from command_center.devices.models import Device
from command_center.drills.models import Drill, DrillInject, DrillScenario
from command_center.idempotency.models import IdempotencyKey
from command_center.incidents.models import Incident, IncidentEvent
from command_center.ledger.models import LedgerHistory, LedgerItem
from command_center.orders.models import Order, OrderReceipt
from command_center.outbox import OutboxEvent
from command_center.ptt.models import PttFloor
from command_center.reviews.models import (
    RectificationEvidence,
    RectificationHistory,
    RectificationItem,
    Review,
    ReviewCheck,
)
from command_center.streams.models import StreamRecord
from command_center.taskforces.models import (
    Matter,
    MatterHistory,
    Task,
    TaskForce,
    TaskForceIncident,
    TaskForceMember,
    TaskForceMessage,
)

__all__ = [
    "AccessToken",
    "AuditEntry",
    "Base",
    "Deadline",
    "Department",
    "Device",
    "Drill",
    "DrillInject",
    "DrillScenario",
    "IdempotencyKey",
    "Incident",
    "IncidentEvent",
    "LedgerHistory",
    "LedgerItem",
    "Matter",
    "MatterHistory",
    "Order",
    "OrderReceipt",
    "OutboxEvent",
    "PttFloor",
    "RectificationEvidence",
    "RectificationHistory",
    "RectificationItem",
    "Review",
    "ReviewCheck",
    "SignInThrottle",
    "StreamRecord",
    "Task",
    "TaskForce",
    "TaskForceIncident",
    "TaskForceMember",
    "TaskForceMessage",
    "User",
]
