"""Sign-in and the account lifecycle: deactivate, reactivate, reset and change a password.

Every function here that hashes takes the :class:`Database` rather than a session: it reads what it needs in
one short transaction, hashes with no transaction open (on SQLite every transaction holds the write lock,
so hashing inside one made a burst of wrong passwords stall every writer), then writes in a second short
one. Deactivation and password changes revoke the user's tokens in the same transaction as the change.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth import passwords, service, throttle
from command_center.auth.models import User
from command_center.auth.roles import Principal
from command_center.auth.service import IssuedToken
from command_center.db import Database
from command_center.errors import Conflict, NotAuthenticated, NotFound, TooManyRequests, ValidationFailed
from command_center.settings import Settings


async def _get(session: AsyncSession, user: int | str) -> User:
    row = (
        await session.get(User, user)
        if isinstance(user, int)
        else await service.get_user_by_name(session, user)
    )
    if row is None:
        raise NotFound(f"user {user} does not exist", field="user_id" if isinstance(user, int) else "name")
    return row


async def _refuse_if_locked(session: AsyncSession, *, name: str, address: str, now: datetime) -> None:
    wait = await throttle.retry_after(session, name=name, address=address, now=now)
    if wait is not None:
        raise TooManyRequests(f"too many failed attempts; try again in {wait} s", retry_after=wait)


async def _record_failure(
    session: AsyncSession,
    *,
    action: str,
    name: str,
    address: str,
    now: datetime,
    settings: Settings,
    actor: Principal | None = None,
) -> None:
    """Count a wrong password against the account and the address; audit it and every lock-out it causes."""
    limits = throttle.Limits.from_settings(settings)
    locked = await throttle.record_failure(session, name=name, address=address, now=now, limits=limits)
    await audit.record(
        session,
        action=action,
        actor=actor,
        target=f"user:{name[:64]}",
        outcome="denied",
        detail={"client": address},
    )
    for key in locked:
        await audit.record(
            session,
            action="auth.lockout",
            actor=actor,
            target=key,
            outcome="denied",
            detail={"client": address, "until": (now + limits.lockout).isoformat(), "for": name[:64]},
        )


async def sign_in(
    database: Database, *, name: str, password: str, address: str, settings: Settings, now: datetime
) -> IssuedToken:
    """Check the password and issue a token; throttled per account and address; every failure audited."""
    async with database.session() as session:
        await _refuse_if_locked(session, name=name, address=address, now=now)
        found = await service.credentials(session, name)
    matches = await passwords.verify_password(found.password_hash if found else None, password)
    ok = matches and found is not None and found.active
    new_hash = await passwords.rehash_if_needed(found.password_hash, password) if ok and found else None
    async with database.session() as session:
        if not ok or found is None:
            await _record_failure(
                session, action="auth.sign_in", name=name, address=address, now=now, settings=settings
            )
        else:
            user = await _get(session, found.user_id)
            if new_hash:
                user.password_hash = new_hash
            await throttle.clear_account(session, name=name)
            issued = await service.issue_token(session, user, settings=settings)
            await audit.record(
                session,
                action="auth.sign_in",
                actor=service.to_principal(user, issued.token_id),
                target=f"user:{user.name}",
            )
    if not ok:
        error = NotAuthenticated("wrong user name or password")
        error.audited = True
        raise error
    return issued


async def change_password(
    database: Database,
    *,
    principal: Principal,
    current: str,
    new: str,
    address: str,
    settings: Settings,
    now: datetime,
) -> int:
    """A user changes its own password; its other tokens are revoked. Returns how many were."""
    async with database.session() as session:
        await _refuse_if_locked(session, name=principal.name, address=address, now=now)
        found = await service.credentials(session, principal.name)
    if found is None:
        raise NotAuthenticated("account no longer exists")
    if not await passwords.verify_password(found.password_hash, current):
        async with database.session() as session:
            await _record_failure(
                session,
                action="user.change_password",
                actor=principal,
                name=principal.name,
                address=address,
                now=now,
                settings=settings,
            )
        raise ValidationFailed("the current password is wrong", field="current_password")
    if new == current:
        raise ValidationFailed("the new password must differ from the current one", field="new_password")
    try:
        new_hash = await passwords.hash_new_password(new, user_name=principal.name)
    except ValidationFailed as exc:
        exc.field = "new_password"
        raise
    async with database.session() as session:
        user = await _get(session, principal.id)
        user.password_hash = new_hash
        revoked = await service.revoke_all_for_user(session, user.id, keep_token_id=principal.token_id)
        await audit.record(
            session,
            action="user.change_password",
            actor=principal,
            target=f"user:{user.name}",
            detail={"revoked": revoked},
        )
    return revoked


async def reset_password(
    database: Database, *, actor: Principal | None, user: int | str, password: str
) -> User:
    """An admin sets a new password: the user's tokens are revoked and its lock-out lifted."""
    async with database.session() as session:
        name = (await _get(session, user)).name
    new_hash = await passwords.hash_new_password(password, user_name=name)
    async with database.session() as session:
        row = await _get(session, user)
        row.password_hash = new_hash
        revoked = await service.revoke_all_for_user(session, row.id)
        await throttle.clear_account(session, name=row.name)
        await audit.record(
            session,
            action="user.reset_password",
            actor=actor,
            target=f"user:{row.name}",
            detail={"revoked": revoked, "via": "api" if actor else "cli"},
        )
    return row


async def set_active(
    session: AsyncSession, *, actor: Principal | None, user: int | str, active: bool
) -> User:
    """Deactivate (and revoke every token) or reactivate an account, in the caller's transaction."""
    row = await _get(session, user)
    if actor is not None and actor.id == row.id and not active:
        raise Conflict("you cannot deactivate your own account", field="user_id")
    revoked = 0
    row.active = active
    if not active:
        revoked = await service.revoke_all_for_user(session, row.id)
    await audit.record(
        session,
        action="user.deactivate" if not active else "user.reactivate",
        actor=actor,
        target=f"user:{row.name}",
        detail={"revoked": revoked, "via": "api" if actor else "cli"},
    )
    return row
