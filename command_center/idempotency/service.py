"""Reserve, complete and release idempotency keys (DESIGN.md section 5).

A key is reserved (a row without a response) in a transaction of its own before the request runs, so a
second request with the same key, in this process or another, finds it: replayed if the first one finished,
409 if it is still running or its body differs. Only successful responses are kept; a failed request
releases its key so the client can retry it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from command_center.db import Database
from command_center.errors import Conflict
from command_center.idempotency.models import IdempotencyKey

#: How long a key is remembered.
RETENTION = timedelta(hours=24)
#: A reservation this old without a response belongs to a request that died with its process.
ABANDONED = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Stored:
    """The first response, to be replayed."""

    status_code: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class Reserved:
    """The key is ours: run the request, then :func:`complete` or :func:`release`."""

    row_id: int


def _reused(key: str) -> Conflict:
    return Conflict(
        f"Idempotency-Key '{key}' was already used with another request; use a new key for a new request",
        field="Idempotency-Key",
        params={"rule": "idempotency_key_reused"},
    )


def _running(key: str) -> Conflict:
    return Conflict(
        f"a request with Idempotency-Key '{key}' is still being processed; retry in a moment",
        field="Idempotency-Key",
        params={"rule": "idempotency_in_progress"},
    )


async def reserve(
    database: Database, *, user_id: int, key: str, fingerprint: str, now: datetime
) -> Stored | Reserved:
    """Replay a finished request, refuse a conflicting one, or reserve the key for this one."""
    try:
        async with database.session() as session:
            await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - RETENTION))
            row = (
                await session.execute(
                    select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
                )
            ).scalar_one_or_none()
            if row is not None:
                if row.fingerprint != fingerprint:
                    raise _reused(key)
                if row.status_code is not None:
                    return Stored(row.status_code, [(n, v) for n, v in row.headers or []], row.body or b"")
                if row.created_at > now - ABANDONED:
                    raise _running(key)
                row.created_at = now  # take over an abandoned reservation
                return Reserved(row.id)
            row = IdempotencyKey(user_id=user_id, key=key, fingerprint=fingerprint, created_at=now)
            session.add(row)
            await session.flush()
            return Reserved(row.id)
    except IntegrityError:
        raise _running(key) from None  # another request reserved the same key a moment ago


async def complete(
    database: Database, reserved: Reserved, *, status_code: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    async with database.session() as session:
        row = await session.get(IdempotencyKey, reserved.row_id)
        if row is not None:
            row.status_code = status_code
            row.headers = [list(pair) for pair in headers]
            row.body = body


async def release(database: Database, reserved: Reserved) -> None:
    async with database.session() as session:
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == reserved.row_id))
