"""FastAPI dependencies as ``Annotated`` aliases: one place to see what a route can ask for.

Every router (domain and auth/audit alike) asks who is calling and for the request's session, so this
sits with authentication below the domain, not with the composition (``app``) that only mounts routers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.auth import tokens
from command_center.auth.permissions import Permission, require
from command_center.auth.roles import Principal
from command_center.db import Database, utcnow
from command_center.errors import NotAuthenticated
from command_center.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="token from POST /api/auth/token")


# The trivial dependencies are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in its
# thread pool, a thread hop on every request for reading an attribute.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.db
    return database


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the endpoint returns, rolled back on any error.

    Events the request emitted commit with it as outbox rows; the relay publishes them afterwards, so a
    request never waits on the broker (``command_center.outbox``).
    """
    async with request.app.state.db.session() as session:
        yield session


async def get_clock(request: Request) -> Callable[[], datetime]:
    """The app's clock (``app.state.clock``, set by tests to control time), else the wall clock."""
    clock: Callable[[], datetime] = getattr(request.app.state, "clock", utcnow)
    return clock


SettingsDep = Annotated[Settings, Depends(get_settings)]
ClockDep = Annotated[Callable[[], datetime], Depends(get_clock)]
DatabaseDep = Annotated[Database, Depends(get_database)]
# scope="function": commit before the response is sent, so a failed commit is the client's error too.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_current_principal(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("sign in first: send 'Authorization: Bearer <token>'")
    # Not in the request's session: authentication must not share (or be rolled back with) its work, and
    # on SQLite it must not queue for the write lock ahead of it (``tokens.authenticate`` reads apart).
    principal = await tokens.authenticate(request.app.state.db, credentials.credentials, settings=settings)
    request.state.principal = principal
    return principal


CurrentUser = Annotated[Principal, Depends(get_current_principal)]


def requires(permission: Permission) -> Any:
    """A dependency that yields the current user after checking one permission."""

    async def _check(principal: CurrentUser) -> Principal:
        require(principal, permission)
        return principal

    return Depends(_check)


__all__ = [
    "ClockDep",
    "CurrentUser",
    "DatabaseDep",
    "SessionDep",
    "SettingsDep",
    "requires",
]
