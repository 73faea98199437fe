"""Browser security headers on every response, and a /healthz that tells strangers only ok/degraded."""

import httpx
import pytest

from command_center.app import create_app
from command_center.settings import Settings


@pytest.mark.parametrize(
    "path", ["/static/index.html", "/static/board.html", "/api/auth/me", "/healthz", "/api/nothing", "/"]
)
async def test_every_response_carries_the_security_headers(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"


async def test_api_answers_are_never_cached(client: httpx.AsyncClient, login) -> None:  # type: ignore[no-untyped-def]
    me = await client.get("/api/auth/me", headers=await login("duty"))
    assert me.headers["cache-control"] == "no-store"
    token = await client.post("/api/auth/token", data={"username": "duty", "password": "wrong-password"})
    assert token.headers["cache-control"] == "no-store"
    page = await client.get("/static/board.html")
    assert page.headers.get("cache-control") != "no-store"  # static files may be cached


async def test_docs_keep_working_but_cannot_be_framed(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


async def test_anonymous_healthz_says_only_ok(client: httpx.AsyncClient, login) -> None:  # type: ignore[no-untyped-def]
    anonymous = await client.get("/healthz")
    assert anonymous.status_code == 200 and anonymous.json() == {"status": "ok"}
    duty = await client.get("/healthz", headers=await login("duty"))
    assert duty.json() == {"status": "ok"}
    garbage = await client.get("/healthz", headers={"Authorization": "Bearer garbage"})
    assert garbage.json() == {"status": "ok"}
    admin = (await client.get("/healthz", headers=await login("admin"))).json()
    assert admin["status"] == "ok" and admin["database"]["ok"] is True and "version" in admin


async def test_anonymous_healthz_hides_why_it_is_degraded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        development=True,
        database_url="postgresql+asyncpg://nobody:pw@127.0.0.1:1/none",
        recordings_dir=tmp_path,
        audit_anchor_path=tmp_path / "anchor.jsonl",
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.get("/healthz")
    assert response.status_code == 503 and response.json() == {"status": "degraded"}
