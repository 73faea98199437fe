"""Every page works under the Content-Security-Policy: no inline script, no external URL, no console error."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import DEMO_PASSWORD, PHONE, WALL, Server, shoot

pytestmark = pytest.mark.browser

COLLECT = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def _pages(server: Server) -> list[tuple[str | None, str, dict[str, int]]]:
    incident = server.create_incident(title="CSP 检查", departments=["police"])
    with server.client("commander") as http:
        taskforce = http.get("/api/taskforces").json()[0]
    return [
        (None, "/static/index.html", WALL),
        ("commander", "/static/board.html", WALL),
        ("commander", f"/static/incident.html?id={incident['id']}", WALL),
        ("police", f"/static/taskforce.html?id={taskforce['id']}", WALL),
        ("commander", "/static/video.html", WALL),
        ("organizer", "/static/drill.html", WALL),
        ("evaluator", "/static/review.html", WALL),
        ("field1", "/static/field.html", PHONE),
    ]


def test_every_page_loads_under_the_csp_without_console_errors(browser: Any, server: Server) -> None:
    problems: list[str] = []
    for user, path, viewport in _pages(server):
        context = browser.new_context(
            viewport=viewport,
            base_url=server.url,
            permissions=["geolocation", "camera", "microphone"],
            geolocation={"latitude": 30.6598, "longitude": 104.0633, "accuracy": 8},
            locale="zh-CN",
        )
        context.add_init_script(COLLECT)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        page.on(
            "response",
            lambda r, errors=errors: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )
        if user is not None:
            page.goto("/static/index.html")
            page.fill("#username", user)
            page.fill("#password", DEMO_PASSWORD)
            page.click("#signin-submit")
            page.wait_for_url(lambda url: "index.html" not in url, wait_until="commit")
        response = page.goto(path)
        assert response is not None
        csp = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp, (path, csp)
        if user is not None:
            page.wait_for_selector("body[data-ready=true], #forbidden", state="attached", timeout=15000)
        page.wait_for_load_state("networkidle")
        violations = page.evaluate("window.__violations")
        if violations or errors:
            problems.append(f"{path} as {user}: CSP {violations}, console {errors}")
        shoot(page, f"csp-{path.split('/')[-1].split('.')[0]}-{viewport['width']}")
        context.close()
    assert not problems, "\n".join(problems)
