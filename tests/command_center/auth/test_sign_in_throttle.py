"""Sign-in throttling per account and per client address (DESIGN.md section 3), and sign-in under a burst."""

import asyncio
import sqlite3
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from command_center.audit.models import AuditEntry
from command_center.auth import passwords
from command_center.db import utcnow
from command_center.settings import Settings
from tests.conftest import DEMO_PASSWORD


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "sign_in_max_failures": 3,
            "sign_in_max_failures_per_address": 6,
            "sign_in_window_seconds": 600,
            "sign_in_lockout_seconds": 300,
        }
    )


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


@pytest.fixture
def clock(app) -> Clock:  # type: ignore[no-untyped-def]
    clock = Clock()
    app.state.clock = clock
    return clock


def client_at(app, address: str) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def _sign_in(http: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    return await http.post("/api/auth/token", data={"username": name, "password": password})


async def _audited(app, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    async with app.state.db.session() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        return list((await session.execute(query)).scalars().all())


async def test_an_account_is_locked_out_after_repeated_failures(app, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    async with client_at(app, "10.0.0.1") as first, client_at(app, "10.0.0.2") as second:
        for http in (first, second, first):
            assert (await _sign_in(http, "duty", "wrong-password-1")).status_code == 401
        # Locked now, from every address, and even with the right password.
        locked = await _sign_in(second, "duty", DEMO_PASSWORD)
        assert locked.status_code == 429
        assert locked.json()["error"] == "rate_limited"
        assert locked.headers["retry-after"] == "300"
        clock.now += timedelta(seconds=120)
        assert (await _sign_in(first, "duty", DEMO_PASSWORD)).headers["retry-after"] == "180"
        # Other accounts are not affected.
        assert (await _sign_in(first, "commander", DEMO_PASSWORD)).status_code == 200
        clock.now += timedelta(seconds=181)
        assert (await _sign_in(first, "duty", DEMO_PASSWORD)).status_code == 200
    lockouts = await _audited(app, "auth.lockout")
    assert [(e.target, e.outcome) for e in lockouts] == [("user:duty", "denied")]
    assert "10.0.0.1" in lockouts[0].detail


async def test_an_address_is_locked_out_across_accounts(app, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    async with client_at(app, "10.0.0.9") as attacker, client_at(app, "10.0.0.10") as colleague:
        names = ["duty", "commander", "field1", "field2", "organizer", "evaluator"]
        for name in names:  # one failure per account: no account reaches its limit
            assert (await _sign_in(attacker, name, "wrong-password-1")).status_code == 401
        response = await _sign_in(attacker, "police", DEMO_PASSWORD)
        assert response.status_code == 429 and int(response.headers["retry-after"]) == 300
        # The accounts themselves still work from elsewhere.
        assert (await _sign_in(colleague, "duty", DEMO_PASSWORD)).status_code == 200
    assert [e.target for e in await _audited(app, "auth.lockout")] == ["address:10.0.0.9"]


async def test_a_success_clears_the_account_counter(app, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    async with client_at(app, "10.0.0.3") as http:
        for _ in range(2):
            assert (await _sign_in(http, "duty", "wrong-password-1")).status_code == 401
        assert (await _sign_in(http, "duty", DEMO_PASSWORD)).status_code == 200
        for _ in range(2):
            assert (await _sign_in(http, "duty", "wrong-password-1")).status_code == 401
        assert (await _sign_in(http, "duty", DEMO_PASSWORD)).status_code == 200


async def test_the_window_forgets_old_failures(app, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    async with client_at(app, "10.0.0.4") as http:
        for _ in range(2):
            assert (await _sign_in(http, "duty", "wrong-password-1")).status_code == 401
        clock.now += timedelta(seconds=601)
        for _ in range(2):
            assert (await _sign_in(http, "duty", "wrong-password-1")).status_code == 401
        assert (await _sign_in(http, "duty", DEMO_PASSWORD)).status_code == 200


async def test_a_burst_of_wrong_passwords_gives_no_500(app, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    """40 wrong passwords at once from many addresses while colleagues sign in: 401/429 only, never 500."""
    clients = [client_at(app, f"10.1.0.{i}") for i in range(10)]
    colleague = client_at(app, "10.2.0.1")
    try:
        wrong = [
            _sign_in(clients[i % 10], ["duty", "commander", "ghost", "field1"][i % 4], f"wrong-{i}-password")
            for i in range(40)
        ]
        good = [_sign_in(colleague, "organizer", DEMO_PASSWORD) for _ in range(8)]
        results = await asyncio.gather(*wrong, *good)
    finally:
        for http in [*clients, colleague]:
            await http.aclose()
    assert {r.status_code for r in results[:40]} <= {401, 429}, [
        r.text for r in results if r.status_code >= 500
    ]
    assert [r.status_code for r in results[40:]] == [200] * 8


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the write lock in question is SQLite's
async def test_no_database_lock_is_held_while_hashing(
    app, settings: Settings, clock: Clock, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """On SQLite every transaction holds the write lock: while a password is being checked, another
    connection must be able to take that lock (the hash used to run inside it).

    The probe waits for the lock rather than demanding it at once: a background writer (the outbox relay
    marking what it published) may hold it for a moment. Were the request itself holding it, the wait could
    never end, since that transaction awaits this very hash; the long timeout only turns that deadlock into
    a failure instead of a hang."""
    path = settings.database_url.split("///", 1)[1]
    probes: list[bool] = []
    real = passwords._hasher

    class ProbingHasher:
        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(real, name)

        def verify(self, hash_: str, password: str) -> bool:
            connection = sqlite3.connect(path, timeout=30)
            try:
                connection.execute("BEGIN IMMEDIATE")
                connection.execute("ROLLBACK")
                probes.append(True)
            except sqlite3.OperationalError:
                probes.append(False)
            finally:
                connection.close()
            return real.verify(hash_, password)

    monkeypatch.setattr(passwords, "_hasher", ProbingHasher())
    async with client_at(app, "10.3.0.1") as http:
        assert (await _sign_in(http, "duty", DEMO_PASSWORD)).status_code == 200
        assert (await _sign_in(http, "commander", "wrong-password-1")).status_code == 401
        token = (await _sign_in(http, "field1", DEMO_PASSWORD)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        changed = await http.post(
            "/api/auth/password",
            json={"current_password": DEMO_PASSWORD, "new_password": "a-new-long-passphrase"},
            headers=headers,
        )
        assert changed.status_code == 204, changed.text
    assert probes == [True, True, True, True]
