"""Sign-in throttling per account and per client address (DESIGN.md section 3).

Each failed sign-in counts against two keys, ``user:NAME`` and ``address:IP``. Reaching the limit within the
window locks the key out for the lock-out time: further attempts are answered 429 with ``Retry-After``
*before* any password is hashed, so a password-guessing burst costs the server almost nothing. A successful
sign-in clears the account's counter (never the address's: one valid account must not reset an attacker's
address). Counters are rows, so every server process enforces the same limits; the caller's clock is
passed in, so tests control time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.auth.models import SignInThrottle
from command_center.settings import Settings


@dataclass(frozen=True)
class Limits:
    per_account: int
    per_address: int
    window: timedelta
    lockout: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            per_account=settings.sign_in_max_failures,
            per_address=settings.sign_in_max_failures_per_address,
            window=timedelta(seconds=settings.sign_in_window_seconds),
            lockout=timedelta(seconds=settings.sign_in_lockout_seconds),
        )


def account_key(name: str) -> str:
    return f"user:{name.lower()[:64]}"


def address_key(address: str) -> str:
    return f"address:{address[:100]}"


def _keys(name: str, address: str, limits: Limits) -> dict[str, int]:
    return {account_key(name): limits.per_account, address_key(address): limits.per_address}


async def retry_after(session: AsyncSession, *, name: str, address: str, now: datetime) -> int | None:
    """Seconds until the account or the address may try again, or ``None`` if neither is locked out."""
    rows = (
        await session.execute(
            select(SignInThrottle.locked_until).where(
                SignInThrottle.key.in_([account_key(name), address_key(address)]),
                SignInThrottle.locked_until > now,
            )
        )
    ).scalars()
    waits = [math.ceil((until - now).total_seconds()) for until in rows if until is not None]
    return max(waits) if waits else None


async def record_failure(
    session: AsyncSession, *, name: str, address: str, now: datetime, limits: Limits
) -> list[str]:
    """Count one failure against the account and the address; return the keys this failure locked out."""
    await _forget_stale(session, now=now, limits=limits)
    locked: list[str] = []
    for key, limit in _keys(name, address, limits).items():
        await _ensure_row(session, key, now)
        row = (
            await session.execute(select(SignInThrottle).where(SignInThrottle.key == key).with_for_update())
        ).scalar_one()
        if row.window_start <= now - limits.window:
            row.failures, row.window_start = 0, now
        row.failures += 1
        if row.failures >= limit and (row.locked_until is None or row.locked_until <= now):
            row.locked_until = now + limits.lockout
            row.failures, row.window_start = 0, now
            locked.append(key)
    await session.flush()
    return locked


async def clear_account(session: AsyncSession, *, name: str) -> None:
    """Forget the account's failures and lock-out (a successful sign-in, or an admin's password reset)."""
    await session.execute(delete(SignInThrottle).where(SignInThrottle.key == account_key(name)))


async def _ensure_row(session: AsyncSession, key: str, now: datetime) -> None:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(SignInThrottle).values(key=key, failures=0, window_start=now, locked_until=None)
    await session.execute(statement.on_conflict_do_nothing(index_elements=["key"]))


async def _forget_stale(session: AsyncSession, *, now: datetime, limits: Limits) -> None:
    """Drop counters whose window ended and that lock nothing, so sprayed user names do not pile up."""
    await session.execute(
        delete(SignInThrottle).where(
            SignInThrottle.window_start <= now - limits.window,
            or_(SignInThrottle.locked_until.is_(None), and_(SignInThrottle.locked_until <= now)),
        )
    )
