"""Request and response bodies of the accounts API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from command_center.auth.roles import Role
from command_center.limits import RequestBody


class TokenRead(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class DepartmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name_zh: str
    name_en: str


class UserRead(BaseModel):
    id: int
    name: str
    display_name: str
    role: Role
    department: str


class UserCreate(RequestBody):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    display_name: str = Field(default="", max_length=200)
    role: Role
    department: str = Field(min_length=1, max_length=64)
    password: str = Field(
        min_length=1,
        max_length=200,
        description="at least 10 characters, not the user name, not a common password",
    )


class AccountRead(UserRead):
    """A user as an administrator manages it: whether the account may sign in."""

    active: bool


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=1, max_length=200)


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(min_length=1, max_length=200)
