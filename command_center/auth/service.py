"""Accounts and tokens: create users, check passwords, issue, resolve and revoke bearer tokens.

Tokens are opaque random strings; the database keeps only an HMAC of each (keyed by ``CC_SECRET_KEY``), so
a stolen database dump holds no usable token, and revocation is a row update that takes effect on the next
request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.auth import passwords
from command_center.auth.models import AccessToken, Department, User
from command_center.auth.roles import HUMAN_ROLES, Principal, Role
from command_center.db import utcnow
from command_center.errors import Conflict, NotAuthenticated, NotFound, ValidationFailed
from command_center.events import revoke_connections
from command_center.settings import Settings

_NAME_MAX = 64


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    token_id: str
    expires_in: int


def to_principal(user: User, token_id: str = "", expires_at: datetime | None = None) -> Principal:
    return Principal(
        id=user.id,
        name=user.name,
        role=Role(user.role),
        department=user.department.code,
        display_name=user.display_name or user.name,
        token_id=token_id,
        expires_at=expires_at,
    )


def token_hash(settings: Settings, token: str) -> str:
    """The keyed hash the database keeps of a token (and ``tokens.PrincipalCache`` is keyed by)."""
    return hmac.new(settings.secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


async def get_department(session: AsyncSession, code: str) -> Department:
    department = (
        await session.execute(select(Department).where(Department.code == code))
    ).scalar_one_or_none()
    if department is None:
        raise NotFound(f"unknown department '{code}'", field="department")
    return department


async def ensure_department(session: AsyncSession, *, code: str, name_zh: str, name_en: str) -> Department:
    department = (
        await session.execute(select(Department).where(Department.code == code))
    ).scalar_one_or_none()
    if department is None:
        department = Department(code=code, name_zh=name_zh, name_en=name_en)
        session.add(department)
        await session.flush()
    return department


async def list_departments(session: AsyncSession) -> list[Department]:
    return list((await session.execute(select(Department).order_by(Department.id))).scalars().all())


async def get_user_by_name(session: AsyncSession, name: str) -> User | None:
    return (await session.execute(select(User).where(User.name == name))).scalar_one_or_none()


async def create_user(
    session: AsyncSession,
    *,
    name: str,
    role: Role | str,
    department: str,
    password: str,
    display_name: str = "",
) -> User:
    """Create a user; refuse unknown roles and departments, weak passwords and taken names.

    The password is checked and hashed (in the worker pool) before the first query, so a caller that has not
    yet used ``session`` holds no database lock while Argon2 runs.
    """
    if (
        not name
        or len(name) > _NAME_MAX
        or not name.replace("_", "").replace("-", "").replace(".", "").isalnum()
    ):
        raise ValidationFailed(
            f"user name must be 1-{_NAME_MAX} letters, digits, '.', '_' or '-'", field="name"
        )
    try:
        role = Role(role)
        if role is Role.system:
            raise ValueError(role)
    except ValueError as exc:
        roles = ", ".join(r.value for r in HUMAN_ROLES)
        raise ValidationFailed(f"unknown role '{role}'; choose one of: {roles}", field="role") from exc
    password_hash = await passwords.hash_new_password(password, user_name=name)
    return await insert_user(
        session,
        name=name,
        role=role,
        department=department,
        password_hash=password_hash,
        display_name=display_name,
    )


async def insert_user(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    department: str,
    password_hash: str,
    display_name: str = "",
) -> User:
    """Insert a user whose password the caller already checked and hashed (outside any transaction)."""
    if await get_user_by_name(session, name) is not None:
        raise Conflict(f"user '{name}' already exists", field="name")
    dept = await get_department(session, department)
    user = User(
        name=name,
        display_name=display_name or name,
        role=role.value,
        department_id=dept.id,
        password_hash=password_hash,
    )
    session.add(user)
    await session.flush()
    await session.refresh(user, ["department"])
    return user


@dataclass(frozen=True)
class Credentials:
    """What a sign-in needs to know about an account, read in a short transaction before hashing."""

    user_id: int
    password_hash: str
    active: bool


async def credentials(session: AsyncSession, name: str) -> Credentials | None:
    row = (
        await session.execute(select(User.id, User.password_hash, User.active).where(User.name == name))
    ).first()
    return Credentials(row.id, row.password_hash, row.active) if row else None


async def issue_token(session: AsyncSession, user: User, *, settings: Settings) -> IssuedToken:
    token = secrets.token_urlsafe(32)
    token_id = secrets.token_hex(8)
    now = utcnow()
    session.add(
        AccessToken(
            id=token_id,
            token_hash=token_hash(settings, token),
            user_id=user.id,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.token_ttl_seconds),
        )
    )
    await session.flush()
    return IssuedToken(access_token=token, token_id=token_id, expires_in=settings.token_ttl_seconds)


async def principal_for_token_hash(session: AsyncSession, hashed: str) -> Principal:
    """Resolve a token (by ``token_hash``) to its user; expired, revoked or unknown tokens are refused with
    the reason. Requests come through ``tokens.authenticate``, which checks the token's shape first."""
    row = (
        await session.execute(select(AccessToken).where(AccessToken.token_hash == hashed))
    ).scalar_one_or_none()
    if row is None:
        raise NotAuthenticated("unknown token; sign in again")
    if row.revoked_at is not None:
        raise NotAuthenticated("token was revoked; sign in again")
    if row.expires_at <= utcnow():
        raise NotAuthenticated("token expired; sign in again")
    if not row.user.active:
        raise NotAuthenticated("account is disabled")
    return to_principal(row.user, row.id, row.expires_at)


async def revoke_token(session: AsyncSession, token_id: str) -> None:
    row = await session.get(AccessToken, token_id)
    if row is None:
        raise NotFound("unknown token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    revoke_connections(session, user_id=row.user_id, token_id=token_id)  # its open sockets close too


async def revoke_all_for_user(session: AsyncSession, user_id: int, *, keep_token_id: str = "") -> int:
    """Revoke every live token of a user (but ``keep_token_id``, the one changing its own password)."""
    query = select(AccessToken).where(
        AccessToken.user_id == user_id, AccessToken.revoked_at.is_(None), AccessToken.id != keep_token_id
    )
    rows = (await session.execute(query)).scalars().all()
    now = utcnow()
    for row in rows:
        row.revoked_at = now
        if keep_token_id:  # the sockets of the kept token stay open
            revoke_connections(session, user_id=user_id, token_id=row.id)
    if not keep_token_id:
        revoke_connections(session, user_id=user_id)  # every open socket of the user closes too
    return len(rows)


async def list_users(session: AsyncSession, *, department: str | None = None) -> list[User]:
    query = select(User).order_by(User.id)
    if department:
        query = query.join(Department).where(Department.code == department)
    return list((await session.execute(query)).scalars().all())
