"""Accounts API: sign in, sign out, who am I, users and departments, and the account lifecycle."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from command_center.audit import service as audit
from command_center.auth import accounts, service
from command_center.auth.deps import ClockDep, CurrentUser, DatabaseDep, SessionDep, SettingsDep, requires
from command_center.auth.models import User
from command_center.auth.permissions import Permission
from command_center.auth.roles import Principal
from command_center.auth.schemas import (
    AccountRead,
    DepartmentRead,
    PasswordChange,
    PasswordReset,
    TokenRead,
    UserCreate,
    UserRead,
)
from command_center.limits import IdPath

router = APIRouter(prefix="/api", tags=["auth"])
UserManager = Annotated[Principal, requires(Permission.user_manage)]


def _user_read(principal: Principal) -> UserRead:
    return UserRead(
        id=principal.id,
        name=principal.name,
        display_name=principal.display_name,
        role=principal.role,
        department=principal.department,
    )


def _client(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy, run uvicorn with --proxy-headers)."""
    return request.client.host if request.client else "unknown"


@router.post(
    "/auth/token",
    response_model=TokenRead,
    responses={429: {"description": "too many failed sign-ins; see the Retry-After header"}},
)
async def sign_in(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    database: DatabaseDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> TokenRead:
    """OAuth2 password flow: exchange a user name and password for an expiring bearer token."""
    issued = await accounts.sign_in(
        database,
        name=form.username,
        password=form.password,
        address=_client(request),
        settings=settings,
        now=clock(),
    )
    return TokenRead(access_token=issued.access_token, expires_in=issued.expires_in)


@router.post("/auth/revoke", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(principal: CurrentUser, session: SessionDep) -> None:
    """Revoke the token this request was made with."""
    await service.revoke_token(session, principal.token_id)
    await audit.record(session, action="auth.revoke", actor=principal, target=f"token:{principal.token_id}")


@router.post(
    "/auth/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={429: {"description": "too many wrong passwords; see the Retry-After header"}},
)
async def change_own_password(
    body: PasswordChange,
    request: Request,
    principal: CurrentUser,
    database: DatabaseDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> None:
    """Change your own password (the current one is required); your other sessions are signed out."""
    await accounts.change_password(
        database,
        principal=principal,
        current=body.current_password,
        new=body.new_password,
        address=_client(request),
        settings=settings,
        now=clock(),
    )


@router.get("/auth/me", response_model=UserRead)
async def who_am_i(principal: CurrentUser) -> UserRead:
    return _user_read(principal)


@router.get("/departments", response_model=list[DepartmentRead])
async def departments(_: CurrentUser, session: SessionDep) -> list[DepartmentRead]:
    return [DepartmentRead.model_validate(d) for d in await service.list_departments(session)]


@router.get("/users", response_model=list[UserRead])
async def users(principal: CurrentUser, session: SessionDep, department: str | None = None) -> list[UserRead]:
    """Everyone may look up colleagues (to address orders); liaisons see their own department only."""
    if principal.role.value == "liaison":
        department = principal.department
    return [
        _user_read(service.to_principal(u)) for u in await service.list_users(session, department=department)
    ]


@router.post("/users", response_model=UserRead, status_code=status.HTTP_201_CREATED)
async def add_user(body: UserCreate, session: SessionDep, principal: UserManager) -> UserRead:
    user = await service.create_user(
        session,
        name=body.name,
        role=body.role,
        department=body.department,
        password=body.password,
        display_name=body.display_name,
    )
    await audit.record(
        session,
        action="user.create",
        actor=principal,
        target=f"user:{user.name}",
        detail={"role": user.role, "department": body.department},
    )
    return _user_read(service.to_principal(user))


@router.post("/users/{user_id}/revoke-tokens", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_user_tokens(user_id: IdPath, session: SessionDep, principal: UserManager) -> None:
    revoked = await service.revoke_all_for_user(session, user_id)
    await audit.record(
        session,
        action="user.revoke_tokens",
        actor=principal,
        target=f"user:{user_id}",
        detail={"revoked": revoked},
    )
    await session.commit()


def _account_read(user: User) -> AccountRead:
    return AccountRead(**_user_read(service.to_principal(user)).model_dump(), active=user.active)


@router.post("/users/{user_id}/deactivate", response_model=AccountRead)
async def deactivate_user(user_id: IdPath, session: SessionDep, principal: UserManager) -> AccountRead:
    """Disable an account: it cannot sign in, and every token it holds is revoked at once."""
    user = await accounts.set_active(session, actor=principal, user=user_id, active=False)
    read = _account_read(user)
    await session.commit()
    return read


@router.post("/users/{user_id}/reactivate", response_model=AccountRead)
async def reactivate_user(user_id: IdPath, session: SessionDep, principal: UserManager) -> AccountRead:
    return _account_read(await accounts.set_active(session, actor=principal, user=user_id, active=True))


@router.post("/users/{user_id}/reset-password", response_model=AccountRead)
async def reset_user_password(
    user_id: IdPath, body: PasswordReset, database: DatabaseDep, principal: UserManager
) -> AccountRead:
    """Set a new password for a user (who forgot theirs); its tokens are revoked and any lock-out lifted."""
    user = await accounts.reset_password(database, actor=principal, user=user_id, password=body.password)
    return _account_read(user)
