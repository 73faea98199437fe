"""A token is resolved from the database once a second at most, and forgotten the moment it is revoked."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text

from command_center.auth import service, tokens
from command_center.auth.roles import Principal, Role
from command_center.db import Database, utcnow
from tests.conftest import bearer, token_for


def _principal(user_id: int, expires_in: float = 3600) -> Principal:
    return Principal(
        id=user_id,
        name=f"user{user_id}",
        role=Role.duty_officer,
        department="section",
        token_id=f"t{user_id}",
        expires_at=utcnow() + timedelta(seconds=expires_in),
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_answer_is_kept_for_max_age_and_no_longer() -> None:
    clock = Clock()
    cache = tokens.PrincipalCache(clock)
    duty = _principal(1)
    cache.put("h1", duty, cache.begin())
    clock.now += 0.999
    assert cache.get("h1", 1.0) is duty
    clock.now += 0.001
    assert cache.get("h1", 1.0) is None
    cache.put("h1", _principal(1), cache.begin())
    assert cache.get("h1", 0.0) is None  # token_cache_seconds = 0 turns it off
    began = cache.begin()  # a slow lookup: its answer is as old as the read it came from
    clock.now += 0.6
    cache.put("h2", _principal(2), began)
    clock.now += 0.4
    assert cache.get("h2", 1.0) is None


def test_an_expired_token_is_not_answered_from_memory() -> None:
    cache = tokens.PrincipalCache(Clock())
    cache.put("h1", _principal(1, expires_in=-1), cache.begin())
    assert cache.get("h1", 1.0) is None


def test_forgetting_a_user_drops_only_its_tokens_and_stale_lookups_are_not_stored() -> None:
    cache = tokens.PrincipalCache(Clock())
    cache.put("a1", _principal(1), cache.begin())
    cache.put("a2", _principal(1), cache.begin())
    other = _principal(2)
    cache.put("b1", other, cache.begin())
    began = cache.begin()  # a lookup of user 1 begins ...
    cache.forget_user(1)  # ... a revocation commits while it reads ...
    cache.put("a3", _principal(1), began)  # ... and what it read is not kept
    assert [cache.get(k, 1.0) for k in ("a1", "a2", "a3")] == [None, None, None]
    assert cache.get("b1", 1.0) is other


def _count_token_reads(database: Database) -> list[str]:
    reads: list[str] = []

    @event.listens_for(database.reader.sync_engine, "before_cursor_execute")
    def _seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "access_tokens" in statement:
            reads.append(statement)

    return reads


async def test_requests_in_a_row_read_the_token_once(client: httpx.AsyncClient, app) -> None:  # type: ignore[no-untyped-def]
    token = await token_for(client, "duty")
    reads = _count_token_reads(app.state.db)
    for _ in range(5):
        assert (await client.get("/api/auth/me", headers=bearer(token))).status_code == 200
    assert len(reads) == 1, reads  # before: one read per request


@pytest.fixture
async def bare_client(app):  # type: ignore[no-untyped-def]
    """A client whose responses do not drain the outbox, and no relay: the hub cannot make the server
    forget a token (the ``client`` fixture's drain would), only the committing transaction can."""
    await app.state.outbox.stop()
    tokens.cache_for(app.state.db).clock = lambda: 0.0  # and nothing ages out
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.mark.parametrize("how", ["deactivate", "revoke-tokens", "sign-out"])
async def test_a_revocation_in_this_process_is_refused_at_once(
    bare_client: httpx.AsyncClient, how: str
) -> None:
    token = await token_for(bare_client, "field1")
    me = (await bare_client.get("/api/auth/me", headers=bearer(token))).json()  # now remembered
    admin = bearer(await token_for(bare_client, "admin"))
    if how == "deactivate":
        done = await bare_client.post(f"/api/users/{me['id']}/deactivate", headers=admin)
    elif how == "revoke-tokens":
        done = await bare_client.post(f"/api/users/{me['id']}/revoke-tokens", headers=admin)
    else:
        done = await bare_client.post("/api/auth/revoke", headers=bearer(token))
    assert done.status_code in (200, 204), done.text
    refused = await bare_client.get("/api/auth/me", headers=bearer(token))
    assert refused.status_code == 401, refused.text


async def test_a_savepoint_rolled_back_after_a_revocation_does_not_undo_the_forgetting(  # type: ignore[no-untyped-def]
    bare_client: httpx.AsyncClient, app
) -> None:
    """Found in review: the rollback of a savepoint (``begin_nested``) dropped what the whole transaction
    had changed, so its commit forgot nothing and the revoked token was still answered from memory."""
    token = await token_for(bare_client, "field1")
    me = (await bare_client.get("/api/auth/me", headers=bearer(token))).json()
    async with app.state.db.session() as session:
        await service.revoke_all_for_user(session, me["id"])
        await session.flush()
        with contextlib.suppress(RuntimeError):
            async with session.begin_nested():  # e.g. an insert racing another process, retried
                await session.execute(text("SELECT 1"))
                raise RuntimeError("an IntegrityError stand-in")
    refused = await bare_client.get("/api/auth/me", headers=bearer(token))
    assert refused.status_code == 401, refused.text


async def test_a_revocation_by_another_process_is_heard_through_the_hub(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, app, settings
) -> None:
    token = await token_for(client, "duty")
    me = (await client.get("/api/auth/me", headers=bearer(token))).json()
    cache = tokens.cache_for(app.state.db)
    cache.clock = lambda: 0.0  # never ages: only the revocation's message can make the server forget
    other = Database.from_settings(settings)  # as `command-center revoke-tokens` opens it
    try:
        async with other.session() as session:
            await service.revoke_all_for_user(session, me["id"])
    finally:
        await other.dispose()
    assert (await client.get("/api/auth/me", headers=bearer(token))).status_code == 200  # not heard yet
    await app.state.outbox.drain()  # the relay publishes the other process's control message
    refused = await client.get("/api/auth/me", headers=bearer(token))
    assert refused.status_code == 401 and refused.json()["detail"] == "token was revoked; sign in again"
