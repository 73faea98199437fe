"""Compose the ASGI application: settings in, a FastAPI app out, every long-lived resource in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from command_center import __version__
from command_center.audit import service as audit
from command_center.audit.api import router as audit_router
from command_center.auth import service as auth_service
from command_center.auth.api import router as auth_router
from command_center.auth.roles import Principal
from command_center.channels import register_domain_channels
from command_center.db import Database
from command_center.deadlines.runner import DeadlineSweeper
from command_center.deadlines.service import MissHandler
from command_center.drills.api import router as drills_router
from command_center.drills.runner import DrillRunner
from command_center.errors import CommandCenterError, Forbidden, NotAuthenticated
from command_center.hub import Hub, create_broker
from command_center.hub import router as hub_router
from command_center.incidents import service as incidents
from command_center.incidents.api import router as incidents_router
from command_center.ledger import service as ledger
from command_center.ledger.api import router as ledger_router
from command_center.orders.api import router as orders_router
from command_center.pages import mount_vendor
from command_center.pages import router as pages_router
from command_center.reviews import items as rectification
from command_center.reviews import service as reviews
from command_center.reviews.api import router as reviews_router
from command_center.settings import Settings
from command_center.streams import signaling
from command_center.streams.api import router as streams_router
from command_center.streams.bridge import StreamBridge
from command_center.streams.playback import router as playback_router
from command_center.taskforces import tasks
from command_center.taskforces.api import matters_router, tasks_router
from command_center.taskforces.api import router as taskforces_router
from streaming import Relay

log = logging.getLogger(__name__)


def error_body(
    code: str, detail: str, field: str | None = None, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"error": code, "detail": detail, "field": field, "params": params or {}}


def create_app(settings: Settings) -> FastAPI:
    """Build a fresh application; nothing is created at import time, so tests can build many."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        app.state.db = db
        hub = build_hub(settings, db)
        await hub.start()
        app.state.hub = hub
        sweeper = DeadlineSweeper(
            db, hub, interval=settings.deadline_sweep_seconds, on_missed=deadline_handlers()
        )
        app.state.deadline_sweeper = sweeper
        relay = Relay(settings.recordings_dir, StreamBridge(db, hub))
        app.state.relay = relay
        signaling.install(hub, db, lambda: relay)
        drill_runner = DrillRunner(db, hub, settings, tick=settings.drill_tick_seconds)
        app.state.drill_runner = drill_runner
        if settings.background_tasks:
            sweeper.start()
            drill_runner.start()
        try:
            yield
        finally:
            await drill_runner.stop()
            await relay.close()
            await sweeper.stop()
            await hub.close()
            await db.dispose()

    app = FastAPI(
        title="Command Center 指挥与演练平台",
        version=__version__,
        description="Real-time emergency command and double-blind drill platform. Errors share one shape: "
        '`{"error": CODE, "detail": "...", "field": ...}`.',
        lifespan=lifespan,
    )
    app.state.settings = settings
    _install_error_handlers(app)

    app.include_router(hub_router)
    app.include_router(auth_router)
    app.include_router(audit_router)
    app.include_router(incidents_router)
    app.include_router(ledger_router)
    app.include_router(taskforces_router)
    app.include_router(tasks_router)
    app.include_router(matters_router)
    app.include_router(orders_router)
    app.include_router(drills_router)
    app.include_router(streams_router)
    app.include_router(reviews_router)
    app.include_router(pages_router)
    app.include_router(playback_router)

    @app.get("/healthz", tags=["ops"])
    async def healthz(request: Request) -> JSONResponse:
        """Report whether the database and the broker answer; 503 if either does not."""
        database_ok = await request.app.state.db.ping()
        hub = getattr(request.app.state, "hub", None)
        broker_ok = await hub.broker.ping() if hub is not None else True
        ok = database_ok and broker_ok
        body = {
            "status": "ok" if ok else "degraded",
            "version": __version__,
            "database": {"ok": database_ok, "url": settings.database_url_redacted},
            "broker": {"ok": broker_ok, "url": settings.broker_url_redacted},
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    mount_vendor(app)
    static_dir = files("dashboards") / "static"
    app.mount("/static", StaticFiles(directory=str(static_dir), html=True), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/static/index.html")

    return app


def build_hub(settings: Settings, database: Database) -> Hub:
    """The hub with token authentication, audited denials and the domain's channel rules."""

    async def authenticate(token: str) -> Principal:
        async with database.session() as session:
            return await auth_service.principal_for_token(session, token, settings=settings)

    async def on_denied(principal: Principal, channel: str, op: str) -> None:
        try:
            async with database.session() as session:
                await audit.record(
                    session,
                    action="access.denied",
                    actor=principal,
                    target=f"ws {op} {channel}"[:200],
                    outcome="denied",
                    detail={"code": "forbidden", "channel": channel, "op": op},
                )
        except Exception:
            log.exception("could not audit a hub denial")

    broker = create_broker(
        settings.broker_url,
        history_size=settings.hub_history_size,
        history_seconds=settings.hub_history_seconds,
    )
    hub = Hub(settings=settings, broker=broker, authenticate=authenticate, on_denied=on_denied)
    register_domain_channels(hub.policy, database)
    return hub


def deadline_handlers() -> dict[str, MissHandler]:
    """What each kind of subject does when one of its deadlines passes (the sweeper knows no domain)."""
    return {
        "incident": incidents.on_deadline_missed,
        "ledger": ledger.on_deadline_missed,
        "task": tasks.on_deadline_missed,
        "review": reviews.on_deadline_missed,
        "rectification": rectification.on_deadline_missed,
    }


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CommandCenterError)
    async def _domain_error(request: Request, exc: CommandCenterError) -> JSONResponse:
        if isinstance(exc, Forbidden | NotAuthenticated) and not exc.audited:
            await _audit_denial(request, exc)
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
        return JSONResponse(
            error_body(exc.code, exc.detail, exc.field, exc.params), exc.status_code, headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        location = [
            str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "form")
        ]
        field = ".".join(location) or None
        message = first.get("msg", "invalid request")
        detail = f"{field}: {message}" if field else message
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        # The pydantic error type (``missing``, ``string_too_long``, ...) and its limits let pages say it
        # in the user's language.
        params = {"rule": f"input.{first.get('type', 'invalid')}"}
        params |= {k: v for k, v in (first.get("ctx") or {}).items() if isinstance(v, int | float | str)}
        return JSONResponse(error_body("validation_error", detail, field, params), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal", "internal error; the details are in the server log"), 500)


async def _audit_denial(request: Request, exc: CommandCenterError) -> None:
    """Write every 401/403 to the audit log in a transaction of its own (the request's is rolled back)."""
    principal = getattr(request.state, "principal", None)
    try:
        async with request.app.state.db.session() as session:
            await audit.record(
                session,
                action="access.denied",
                actor=principal,
                target=f"{request.method} {request.url.path}"[:200],
                outcome="denied",
                detail={"code": exc.code, "reason": exc.detail},
            )
    except Exception:
        log.exception("could not audit a denial")


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` and worker processes: settings from ``CC_*`` variables."""
    return create_app(Settings())
