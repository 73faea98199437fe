"""Idempotent creating POSTs: the ``Idempotency-Key`` header, kept in the database for 24 h."""

from command_center.idempotency.middleware import IdempotencyMiddleware
from command_center.idempotency.models import IdempotencyKey

__all__ = ["IdempotencyKey", "IdempotencyMiddleware"]
