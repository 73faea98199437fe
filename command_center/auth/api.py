"""Accounts API: sign in, sign out, who am I, users and departments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from command_center.audit import service as audit
from command_center.auth import service
from command_center.auth.permissions import Permission
from command_center.auth.roles import Principal
from command_center.auth.schemas import DepartmentRead, TokenRead, UserCreate, UserRead
from command_center.deps import CurrentUser, SessionDep, SettingsDep, requires
from command_center.errors import NotAuthenticated
from command_center.limits import IdPath

router = APIRouter(prefix="/api", tags=["auth"])


def _user_read(principal: Principal) -> UserRead:
    return UserRead(
        id=principal.id,
        name=principal.name,
        display_name=principal.display_name,
        role=principal.role,
        department=principal.department,
    )


@router.post("/auth/token", response_model=TokenRead)
async def sign_in(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> TokenRead:
    """OAuth2 password flow: exchange a user name and password for an expiring bearer token."""
    try:
        user = await service.authenticate(session, name=form.username, password=form.password)
    except NotAuthenticated as exc:
        # Keep the record of the failed attempt although the request fails: commit it before raising.
        await audit.record(
            session,
            action="auth.sign_in",
            target=f"user:{form.username[:64]}",
            outcome="denied",
            detail={"client": request.client.host if request.client else None},
        )
        await session.commit()
        exc.audited = True
        raise
    issued = await service.issue_token(session, user, settings=settings)
    await audit.record(
        session,
        action="auth.sign_in",
        actor=service.to_principal(user, issued.token_id),
        target=f"user:{user.name}",
    )
    return TokenRead(access_token=issued.access_token, expires_in=issued.expires_in)


@router.post("/auth/revoke", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(principal: CurrentUser, session: SessionDep) -> None:
    """Revoke the token this request was made with."""
    await service.revoke_token(session, principal.token_id)
    await audit.record(session, action="auth.revoke", actor=principal, target=f"token:{principal.token_id}")


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
async def add_user(
    body: UserCreate, session: SessionDep, principal: Annotated[Principal, requires(Permission.user_manage)]
) -> UserRead:
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
async def revoke_user_tokens(
    user_id: IdPath, session: SessionDep, principal: Annotated[Principal, requires(Permission.user_manage)]
) -> None:
    revoked = await service.revoke_all_for_user(session, user_id)
    await audit.record(
        session,
        action="user.revoke_tokens",
        actor=principal,
        target=f"user:{user_id}",
        detail={"revoked": revoked},
    )
