"""Exports never run on the event loop (issue 13): 20 sign-ins and two .docx exports at once leave it free.

Each export records the thread it was built on; a document built on the loop's own thread stalls every
other request for as long as python-docx (and matplotlib, for the review) take.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import update

from command_center.auth import passwords
from command_center.auth.models import User
from command_center.db import utcnow
from command_center.drills import service as drills
from command_center.incidents import export as incident_export
from command_center.reviews import export as review_export
from tests.command_center.incidents.test_service import GATE
from tests.command_center.reviews.helpers import event_log, finished_drill, scenario
from tests.conftest import DEMO_PASSWORD

NAMES = [
    "duty",
    "commander",
    "field1",
    "field2",
    "organizer",
    "evaluator",
    "police",
    "fire",
    "cyber",
    "housing",
]


@pytest.fixture
def real_cost_hashing(monkeypatch: pytest.MonkeyPatch, app: Any) -> PasswordHasher:
    """Production Argon2 parameters for this test (the suite otherwise uses the cheapest)."""
    hasher = PasswordHasher()
    monkeypatch.setattr(passwords, "_hasher", hasher)
    monkeypatch.setattr(passwords, "_dummy_hash", None)
    return hasher


def _record_thread(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, threads: dict[str, int]) -> None:
    """Wrap ``module.name`` so each call notes the thread it ran on."""
    original: Callable[..., bytes] = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> bytes:
        threads[name] = threading.get_ident()
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)


async def test_sign_ins_and_exports_leave_the_loop_free(
    app: Any,
    client: httpx.AsyncClient,
    login: Any,
    real_cost_hashing: PasswordHasher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    duty = await login("duty")
    incident = (await client.post("/api/incidents", json=GATE, headers=duty)).json()
    await client.post(f"/api/incidents/{incident['id']}/reports", json={"kind": "phone"}, headers=duty)
    _drill_id, review_id = await finished_drill(app.state.db, app.state.hub)
    assert review_id is not None
    await app.state.outbox.drain()
    evaluator = await login("evaluator")

    async def known_event_log(session: Any, drill: int) -> Any:
        return (scenario(), *event_log(utcnow() - timedelta(hours=2)))

    monkeypatch.setattr(drills, "event_log", known_event_log)
    threads: dict[str, int] = {}
    _record_thread(monkeypatch, incident_export, "timeline_docx", threads)
    _record_thread(monkeypatch, review_export, "review_docx", threads)

    started = time.perf_counter()
    real_hash = real_cost_hashing.hash(DEMO_PASSWORD)
    one_hash = time.perf_counter() - started  # what a hash on the loop would block it for, on this machine
    async with app.state.db.session() as session:
        await session.execute(update(User).where(User.name.in_(NAMES)).values(password_hash=real_hash))
    hash_threads: list[int] = []

    class RecordingHasher:
        """The production hasher, noting the thread each check runs on."""

        def __getattr__(self, name: str) -> Any:
            return getattr(real_cost_hashing, name)

        def verify(self, hash_: str, password: str) -> bool:
            hash_threads.append(threading.get_ident())
            return real_cost_hashing.verify(hash_, password)

    monkeypatch.setattr(passwords, "_hasher", RecordingHasher())

    lags: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - before - 0.005)

    async def sign_in(name: str) -> int:
        response = await client.post("/api/auth/token", data={"username": name, "password": DEMO_PASSWORD})
        return response.status_code

    async def get(url: str, headers: dict[str, str]) -> httpx.Response:
        return await client.get(url, headers=headers)

    prober = asyncio.create_task(probe())
    statuses, timeline, review = await asyncio.gather(
        asyncio.gather(*(sign_in(NAMES[i % len(NAMES)]) for i in range(20))),
        get(f"/api/incidents/{incident['id']}/timeline.docx", duty),
        get(f"/api/reviews/{review_id}/export.docx", evaluator),
    )
    done.set()
    await prober

    assert statuses == [200] * 20
    for response in (timeline, review):
        assert response.status_code == 200, response.text
        assert response.content.startswith(b"PK")  # a .docx is a zip
    loop_thread = threading.get_ident()
    assert set(threads) == {"timeline_docx", "review_docx"}
    assert threads["timeline_docx"] != loop_thread, "the incident timeline .docx was built on the event loop"
    assert threads["review_docx"] != loop_thread, "the review .docx was built on the event loop"
    assert len(hash_threads) == 20 and loop_thread not in hash_threads, "a password was checked on the loop"
    # What the loop felt, for the reader: the verdict above is the threads', not the clock's (a busy CI
    # machine stretches every lag, whichever thread the hashes run on).
    lags.sort()
    p90, worst = lags[int(len(lags) * 0.9)], lags[-1]
    print(
        f"one Argon2 hash {one_hash * 1000:.0f} ms; event-loop lag during 20 sign-ins and 2 exports: "
        f"p90 {p90 * 1000:.0f} ms, worst {worst * 1000:.0f} ms, {len(lags)} probes"
    )


def test_importing_the_app_loads_no_plotting_library() -> None:
    """matplotlib (and its font cache) loads with the first review plot, not with every start and worker."""
    code = "import sys, command_center.app\nprint('matplotlib' in sys.modules)\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False", "importing the app imported matplotlib"
