"""Compose the ASGI application: settings in, a FastAPI app out, every long-lived resource in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from command_center import __version__, openapi
from command_center.audit import service as audit
from command_center.audit.api import router as audit_router
from command_center.audit.checkpointer import Checkpointer
from command_center.audit_rules import build_audit_visibility
from command_center.auth import tokens
from command_center.auth.api import router as auth_router
from command_center.auth.roles import Principal, Role
from command_center.bodylimit import BodyLimitMiddleware
from command_center.channels import register_domain_channels
from command_center.db import Database, utcnow
from command_center.deadlines.runner import DeadlineSweeper
from command_center.deadlines.service import MissHandler
from command_center.devices.api import router as devices_router
from command_center.devices.gateway import start_gateway
from command_center.drills.api import router as drills_router
from command_center.drills.runner import DrillRunner
from command_center.errors import CommandCenterError, Forbidden, NotAuthenticated, TooManyRequests
from command_center.headers import SecurityHeaders
from command_center.hub import Hub, create_broker, serve_hub_directly
from command_center.hub import router as hub_router
from command_center.idempotency import IdempotencyMiddleware
from command_center.incidents import service as incidents
from command_center.incidents.api import router as incidents_router
from command_center.ledger import service as ledger
from command_center.ledger.api import router as ledger_router
from command_center.orders.api import router as orders_router
from command_center.outbox import OutboxRelay
from command_center.pages import mount_vendor
from command_center.pages import router as pages_router
from command_center.ptt import hub as ptt_hub
from command_center.ptt.api import router as ptt_router
from command_center.reviews import items as rectification
from command_center.reviews import service as reviews
from command_center.reviews.api import router as reviews_router
from command_center.reviews.plan_api import router as drill_plan_router
from command_center.settings import Settings
from command_center.streams import runtime as streams_runtime
from command_center.streams.api import router as streams_router
from command_center.streams.playback import router as playback_router
from command_center.streams.whep import router as whep_router
from command_center.streams.whip import SdpCors
from command_center.streams.whip import router as whip_router
from command_center.taskforces import tasks
from command_center.taskforces.api import matters_router, tasks_router
from command_center.taskforces.api import router as taskforces_router

log = logging.getLogger(__name__)


def error_body(
    code: str, detail: str, field: str | None = None, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"error": code, "detail": detail, "field": field, "params": params or {}}


def create_app(settings: Settings) -> FastAPI:
    """Build a fresh application; nothing is created at import time, so tests can build many."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database.from_settings(settings)
        app.state.db = db
        hub = build_hub(settings, db)
        await hub.start()
        app.state.hub = hub
        # Read app.state.hub at each publish: tests swap in a recording hub after startup.
        outbox = OutboxRelay(
            db,
            lambda: getattr(app.state, "hub", None),
            poll_seconds=settings.outbox_poll_seconds,
            retention_seconds=settings.outbox_retention_seconds,
        )
        app.state.outbox = outbox
        outbox.start()
        sweeper = DeadlineSweeper(
            db, hub, interval=settings.deadline_sweep_seconds, on_missed=deadline_handlers()
        )
        app.state.deadline_sweeper = sweeper
        media = await streams_runtime.start(app.state, settings, db, hub)
        app.state.gateway = await start_gateway(settings, db, hub, app.state.relay)
        drill_runner = DrillRunner(db, hub, settings, tick=settings.drill_tick_seconds, relay=app.state.relay)
        app.state.drill_runner = drill_runner
        checkpointer = Checkpointer(db, settings, clock=lambda: getattr(app.state, "clock", utcnow)())
        app.state.audit_checkpointer = checkpointer
        ptt_sweep = await ptt_hub.install(
            hub,
            db,
            max_hold=settings.ptt_max_hold_seconds,
            clock=lambda: getattr(app.state, "clock", utcnow)(),
            here=app.state.process,
            relay=lambda: getattr(app.state, "relay", None),
        )
        if settings.background_tasks:
            ptt_sweep.start()
            sweeper.start()
            drill_runner.start()
            checkpointer.start()
        try:
            yield
        finally:
            await ptt_sweep.stop()
            await checkpointer.stop()
            await drill_runner.stop()
            if app.state.gateway is not None:
                await app.state.gateway.close()
            await media.close()
            await sweeper.stop()
            await outbox.stop()
            await hub.close()
            await db.dispose()

    app = FastAPI(
        title="Command Center 指挥与演练平台",
        version=__version__,
        description="Real-time emergency command and double-blind drill platform. Errors share one shape: "
        '`{"error": CODE, "detail": "...", "field": ..., "params": {...}}`.',
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.audit_visibility = build_audit_visibility()
    app.add_middleware(SdpCors)  # WHIP/WHEP clients on other origins (browsers, OBS) read the answer
    app.add_middleware(SecurityHeaders, settings=lambda: app.state.settings)
    _install_error_handlers(app)
    openapi.install(app)
    # Outermost last: the body limit runs before anything else reads a byte (authentication included).
    app.add_middleware(IdempotencyMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)

    _add_routes(app, hub_router)
    serve_hub_directly(app)  # under the hub's uvicorn protocol, /ws skips the middleware (idle memory)
    for router in (
        auth_router,
        audit_router,
        incidents_router,
        ledger_router,
        taskforces_router,
        tasks_router,
        matters_router,
        orders_router,
        drills_router,
        streams_router,
        devices_router,
        whip_router,
        whep_router,
        reviews_router,
        drill_plan_router,
        pages_router,
        playback_router,
        ptt_router,
    ):
        _add_routes(app, router)

    @app.get("/healthz", tags=["ops"])
    async def healthz(request: Request) -> JSONResponse:
        """Whether the database and the broker answer (503 if not); only an admin sees versions and URLs."""
        database_ok = await request.app.state.db.ping()
        hub = getattr(request.app.state, "hub", None)
        broker_ok = await hub.broker.ping() if hub is not None else True
        ok = database_ok and broker_ok
        body: dict[str, Any] = {"status": "ok" if ok else "degraded"}
        if await _is_admin(request):
            body.update(
                version=__version__,
                database={"ok": database_ok, "url": settings.database_url_redacted},
                broker={"ok": broker_ok, "url": settings.broker_url_redacted},
            )
        return JSONResponse(body, status_code=200 if ok else 503)

    mount_vendor(app)
    static_dir = files("dashboards") / "static"
    app.mount("/static", StaticFiles(directory=str(static_dir), html=True), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        return RedirectResponse("/static/index.html")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        """No icon (browsers ask for one on every page; a 404 would be a console error)."""
        return Response(status_code=204)

    return app


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """Add the router's routes to the app as they are, built once per process when their module was imported.

    ``include_router`` would have FastAPI rebuild every route (its dependency tree, its body and response
    models) again for each app, on the app's first request: 0.3-0.8 s of one core on this machine, which a
    worker pays on its first request after a restart and the test suite pays once per test. Our routers carry
    their own prefixes, tags and dependencies and take nothing from the app, so the routes are the same.
    """
    app.router.routes.extend(router.routes)


async def _is_admin(request: Request) -> bool:
    """Whether the request carries an admin's valid bearer token (health details are for admins only)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    try:
        principal = await tokens.authenticate(
            request.app.state.db, token.strip(), settings=request.app.state.settings
        )
    except (CommandCenterError, SQLAlchemyError, OSError):
        return False
    return principal.role is Role.admin


def build_hub(settings: Settings, database: Database) -> Hub:
    """The hub with token authentication, audited denials and the domain's channel rules."""

    async def authenticate(token: str) -> Principal:
        return await tokens.authenticate(database, token, settings=settings)

    async def on_denied(principal: Principal, channel: str, op: str, count: int = 1) -> None:
        try:
            async with database.session() as session:
                await audit.record(
                    session,
                    action="access.denied",
                    actor=principal,
                    target=f"ws {op} {channel}"[:200],
                    outcome="denied",
                    detail={"code": "forbidden", "channel": channel, "op": op, "count": count},
                )
        except Exception:
            log.exception("could not audit a hub denial")

    broker = create_broker(
        settings.broker_url,
        history_size=settings.hub_history_size,
        history_seconds=settings.hub_history_seconds,
        history_bytes=settings.hub_history_bytes,
    )
    hub = Hub(settings=settings, broker=broker, authenticate=authenticate, on_denied=on_denied)
    hub.revoked_hooks.append(tokens.cache_for(database).forget_user)
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
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else {}
        headers.update(getattr(exc, "headers", None) or {})  # e.g. Retry-After on a full relay
        if isinstance(exc, TooManyRequests):
            headers["Retry-After"] = str(exc.retry_after)
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
        params = _validation_params(first)
        return JSONResponse(error_body("validation_error", detail, field, params), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            400: "bad_request",
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            413: "too_large",
            429: "rate_limited",
        }.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal", "internal error; the details are in the server log"), 500)


def _validation_params(error: Any) -> dict[str, Any]:
    """The broken rule (pydantic's error type) and its JSON-safe values (``max_length``, ``character``)."""
    # Namespaced (``input.string_too_long``) so a page's catalogue never mistakes one for a domain rule.
    params: dict[str, Any] = {"rule": f"input.{error.get('type', 'invalid')}"} if error else {}
    for key, value in (error.get("ctx") or {}).items() if error else ():
        if isinstance(value, str | int | float | bool) or value is None:
            params[key] = value
    return params


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
