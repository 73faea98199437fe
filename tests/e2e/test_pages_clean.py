"""Every page, as the roles that use it, on the wall and on a phone: nothing loaded from outside the server,
no console errors (a failed request a page should not have made counts), no sideways scrolling on a phone."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE, WALL

pytestmark = pytest.mark.browser

PAGES = [
    ("commander", "board"),
    ("commander", "ledger"),
    ("commander", "video"),
    ("commander", "taskforce"),
    ("commander", "review"),
    ("duty", "incident"),
    ("field1", "field"),
    ("organizer", "drill"),
    ("evaluator", "review"),
    ("evaluator", "board"),
    ("police", "board"),
    ("police", "taskforce"),
    ("hr", "board"),
]


def _watch(page, base_url: str) -> list[str]:
    """Collect console errors and requests that leave the server."""
    problems: list[str] = []

    def console(message) -> None:
        if message.type == "error":
            problems.append(f"console {message.type}: {message.text}")

    def request(sent) -> None:
        if not sent.url.startswith((base_url, "data:", "blob:")):
            problems.append(f"external request {sent.url}")

    page.on("console", console)
    page.on("request", request)
    return problems


@pytest.fixture(scope="module")
def incident_id(server) -> int:
    return int(server.create_incident(title="页面检查事件", location={"lat": 30.66, "lon": 104.06})["id"])


@pytest.mark.parametrize("viewport", [WALL, PHONE], ids=["wall", "phone"])
def test_every_page_is_self_contained_and_clean(open_page, server, incident_id, viewport):
    for user, name in PAGES:
        page = open_page(user, "/healthz", viewport=viewport, wait_ready=False)
        problems = _watch(page, server.url)
        page.goto(f"/static/{name}.html" + (f"?id={incident_id}" if name == "incident" else ""))
        page.wait_for_selector("body[data-ready=true], #forbidden", state="attached", timeout=15000)
        page.wait_for_timeout(500)  # late requests (maps, lists) finish
        assert not page.locator("#forbidden").count(), f"{user} may not open {name}"
        assert not problems, f"{user} on {name} at {viewport['width']}px: {problems}"
        if viewport is PHONE:
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"] + 1, f"{name} scrolls sideways on a phone ({width}px)"
        page.context.close()
