"""Browser fixtures: one demo server and one Chromium per session, a fresh browser context per test.

The server is the real thing (``python -m command_center demo``) in a temporary folder, so the pages are
tested exactly as an operator gets them: static files, REST, the WebSocket hub and WebRTC.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import cheap_hashing
from tests.services import chromium_path, require

DEMO_PASSWORD = "demo-pass-2026"
#: What api.js signIn stores: the bearer token and the signed-in user (/api/auth/me) under its two keys.
STORE_SESSION = (
    "([token, me]) => { localStorage.setItem('cc.token', token); localStorage.setItem('cc.user', me); }"
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
WALL = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    database_url: str
    folder: Path
    #: The one camera platform the server may pull from: ``rtsp://127.0.0.1:{camera_port}/``.
    camera_port: int = 0

    def token(self, name: str) -> str:
        response = httpx.post(
            f"{self.url}/api/auth/token", data={"username": name, "password": DEMO_PASSWORD}
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def client(self, name: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token(name)}"}, timeout=10
        )

    def create_incident(self, name: str = "commander", **fields: Any) -> dict[str, Any]:
        body = {"title": "区政府东门群众聚集", "category": "collective_petition", "headcount": 30} | fields
        with self.client(name) as http:
            response = http.post("/api/incidents", json=body)
            assert response.status_code == 201, response.text
            return dict(response.json())

    def create_taskforce(self, name: str, **fields: Any) -> int:
        """A task force opened by the commander with the police as member; returns its id."""
        body = {"name": name, "purpose": "联合处置", "members": ["police"]} | fields
        with self.client("commander") as http:
            response = http.post("/api/taskforces", json=body)
            assert response.status_code == 201, response.text
            return int(response.json()["id"])

    def create_drill_incident(self, title: str) -> int:
        """A drill-marked incident, made as the drill engine makes them (no public API creates one)."""
        # Playwright's sync API runs an event loop in this thread: use another thread for ours.
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, _create_drill_incident(self.database_url, title)).result()


async def _create_drill_incident(database_url: str, title: str) -> int:
    from command_center.auth.roles import Principal, Role
    from command_center.db import Database
    from command_center.incidents import service
    from command_center.incidents.schemas import IncidentCreate
    from command_center.settings import Settings

    database = Database.from_settings(Settings(development=True, database_url=database_url))
    try:
        async with database.session() as session:
            engine = Principal(id=1, name="admin", role=Role.admin, department="section")
            incident, _ = await service.create(
                session,
                principal=engine,
                data=IncidentCreate(title=title, category="collective_petition", headcount=12),
                settings=Settings(development=True),
                drill_id=9001,
            )
            return int(incident.id)
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("e2e-server")
    port, camera_port = _free_port(), _free_port()
    database_url = f"sqlite+aiosqlite:///{folder / 'cc.db'}"
    env = {
        **os.environ,
        # The camera platform, and this centre itself standing in for another centre (cascade pages).
        "CC_MEDIA_ALLOWED_TARGETS": f'["rtsp://127.0.0.1:{camera_port}/", "http://127.0.0.1:{port}/"]',
        "CC_DATABASE_URL": database_url,
        "CC_RECORDINGS_DIR": str(folder / "recordings"),
        "CC_DEADLINE_SWEEP_SECONDS": "1",
        "CC_DRILL_MIN_WINDOW_MINUTES": "0",  # the browser tests run whole drills in seconds
    }
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        # The console script with the suite's cheap Argon2id: the pages sign in a few hundred times.
        cheap_hashing.command("demo", "--port", str(port)),
        cwd=folder,
        env=cheap_hashing.environment(env),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"demo server did not start: {(folder / 'server.log').read_text()[-3000:]}")
        time.sleep(0.2)
    yield Server(url=url, database_url=database_url, folder=folder, camera_port=camera_port)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    require("chromium", path is not None)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def open_page(browser: Any, server: Server) -> Iterator[Callable[..., Any]]:
    """``open_page("commander", "/static/board.html")`` -> a signed-in page (wall screen size by default).

    ``sign_in="form"`` signs in through the sign-in page as a person does; the default puts the same session
    in the browser's storage directly.
    """
    contexts: list[Any] = []
    errors: list[str] = []

    def _open(
        user: str | None,
        path: str,
        viewport: dict[str, int] | None = None,
        wait_ready: bool = True,
        sign_in: str = "session",
    ) -> Any:
        # The tests' own probes (wait_for_function with an expression) run as eval in the page, which the
        # product's CSP forbids; the real policy is enforced on every page in test_csp.py.
        context = browser.new_context(
            bypass_csp=True,
            viewport=viewport or WALL,
            base_url=server.url,
            permissions=["geolocation", "camera", "microphone"],
            geolocation={"latitude": 30.6598, "longitude": 104.0633, "accuracy": 8},
            locale="zh-CN",
        )
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        if user is not None and sign_in == "form":
            page.goto("/static/index.html")
            page.fill("#username", user)
            page.fill("#password", DEMO_PASSWORD)
            page.click("#signin-submit")
            page.wait_for_url(lambda url: "index.html" not in url, wait_until="commit")
        elif user is not None:
            # What a sign-in through the form leaves behind (api.js signIn: the token and /api/auth/me in
            # localStorage), made over REST: the form costs ~1 s of a loaded machine per page, and the sign-in
            # itself is walked through the form for every role in test_signin_roles and test_csp.
            token = server.token(user)
            me = httpx.get(f"{server.url}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            me.raise_for_status()
            page.goto("/healthz")  # the origin, so the storage is the pages' own
            page.evaluate(STORE_SESSION, [token, me.text])
        page.goto(path)
        if wait_ready and user is not None:
            page.wait_for_selector("body[data-ready=true], #forbidden", state="attached", timeout=10000)
        return page

    yield _open
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def shoot(page: Any, name: str, full_page: bool = False) -> Path:
    """Save a screenshot for people to look at (test-artifacts/screenshots, git-ignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def started_ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


def schedule_drill(server: Server, *, time_scale: float, delay: float = 1.0) -> dict[str, Any]:
    """Schedule a double-blind drill that starts about ``delay`` seconds from now (as the organizer)."""
    with server.client("organizer") as http:
        scenarios = http.get("/api/drills/scenarios").json()
        key = next(s["key"] for s in scenarios if s["key"].startswith("collective-petition"))
        now = datetime.now(UTC)  # after the lookup: on a busy machine it can take a while
        response = http.post(
            "/api/drills",
            json={
                "window_start": (now + timedelta(seconds=delay)).isoformat(),
                "window_end": (now + timedelta(seconds=delay + 1)).isoformat(),
                "scenarios": [key],
                "single_scenario": True,
                "time_scale": time_scale,
            },
        )
        if response.status_code == 409:  # another test's drill holds that window: take the next one
            return schedule_drill(server, time_scale=time_scale, delay=delay + 3)
        if response.status_code == 422 and response.json().get("field") == "window_end" and delay < 30:
            # The request took longer than the window lasted (a busy machine): a wider margin, again.
            return schedule_drill(server, time_scale=time_scale, delay=delay * 2)
        assert response.status_code == 201, response.text
        return dict(response.json())


def wait_drill(server: Server, drill_id: int, statuses: set[str], timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with server.client("organizer") as http:
        while True:
            drill = http.get(f"/api/drills/{drill_id}").json()
            if drill["status"] in statuses:
                return dict(drill)
            if time.monotonic() > deadline:
                pytest.fail(f"drill {drill_id} stayed {drill['status']}")
            time.sleep(0.5)


@pytest.fixture(scope="session")
def finished_drill(server: Server) -> dict[str, Any]:
    """A compressed drill run to its end, with its review: an hour of scenario time per wall second (the
    most the API allows), so its three scenario hours take seconds instead of the 21 s they took at 600x."""
    drill = schedule_drill(server, time_scale=3600)
    return wait_drill(server, drill["id"], {"finished"}, timeout=180)
