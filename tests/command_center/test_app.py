import httpx

from command_center.app import create_app
from command_center.settings import Settings


async def test_healthz_reports_database_and_broker(client: httpx.AsyncClient, login) -> None:  # type: ignore[no-untyped-def]
    response = await client.get("/healthz", headers=await login("admin"))  # details are for admins
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["broker"]["ok"] is True


async def test_healthz_degrades_when_database_is_gone(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(
        development=True,
        database_url="postgresql+asyncpg://nobody:pw@127.0.0.1:1/none",
        recordings_dir=tmp_path,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            response = await http.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded"}  # an anonymous caller learns nothing more


async def test_openapi_docs_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert "/api/auth/token" in spec["paths"]


async def test_unknown_route_uses_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not Found", "field": None, "params": {}}


async def test_every_app_is_independent(settings: Settings) -> None:
    first, second = create_app(settings), create_app(settings)
    assert first is not second
    assert first.state.settings is settings


def test_apps_share_the_routes_built_at_import(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """No app rebuilds a route (FastAPI's per-app rebuild cost each worker's first request 0.3-0.8 s)."""
    from fastapi.routing import APIRoute

    from command_center.incidents.api import router as incidents_router

    settings = Settings(development=True, database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    first, second = create_app(settings), create_app(settings)
    create = next(r for r in incidents_router.routes if isinstance(r, APIRoute) and "POST" in r.methods)
    assert any(route is create for route in first.routes)
    assert any(route is create for route in second.routes)
    assert first.openapi()["paths"].keys() == second.openapi()["paths"].keys()
    assert {"/api/incidents", "/api/auth/token", "/api/whip", "/healthz"} <= first.openapi()["paths"].keys()
