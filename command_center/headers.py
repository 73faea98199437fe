"""Browser security headers on every response (DESIGN.md section 5; issue 12).

The pages load only their own ES modules, styles and images, so the Content-Security-Policy allows nothing
else: no inline script, no external URL, no framing (clickjacking), no plugins. API answers are never
cached (they carry incident data and tokens). The interactive API docs (``/docs``, ``/redoc``) are FastAPI's
stock pages, which load Swagger UI / ReDoc from a CDN with an inline bootstrap script; they get a policy of
their own that allows exactly that and still forbids framing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from command_center.settings import Settings


@cache
def page_policy(connect_sources: tuple[str, ...] = (), image_sources: tuple[str, ...] = ()) -> str:
    """The pages' policy. ``connect_sources``: the other processes and centres pages may fetch from (a 307
    to the process holding a stream); ``image_sources``: the office's map tile server, if one is set."""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            " ".join(("img-src 'self' data: blob:", *image_sources)),
            "media-src 'self' blob: mediastream:",
            " ".join(("connect-src 'self'", *connect_sources)),
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def _origin(url: str) -> str:
    parts = urlsplit(url.replace("{s}", "a").replace("{z}", "0").replace("{x}", "0").replace("{y}", "0"))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def policy_for(settings: Settings) -> str:
    tiles = _origin(settings.map_tile_url) if settings.map_tile_url else ""
    return page_policy(tuple(settings.csp_connect_sources), (tiles,) if tiles else ())


DOCS_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
        "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
        "font-src 'self' https://fonts.gstatic.com",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    )
)
_DOCS_PATHS = ("/docs", "/redoc")

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=(self), payment=(), usb=()",
}


def _no_store(path: str) -> bool:
    return path.startswith("/api/") or path in ("/healthz", "/openapi.json")


class SecurityHeaders:
    """Pure ASGI middleware (no buffering, so streamed exports and WebSockets pass untouched)."""

    def __init__(self, app: ASGIApp, settings: Callable[[], Settings]) -> None:
        self.app = app
        self._settings = settings  # read per response: the app's settings, as tests and operators set them

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON.items():
                    headers.setdefault(name, value)
                docs = path.startswith(_DOCS_PATHS)
                policy = DOCS_POLICY if docs else policy_for(self._settings())
                headers.setdefault("Content-Security-Policy", policy)
                if _no_store(path):
                    headers["Cache-Control"] = "no-store"
                    headers.setdefault("Pragma", "no-cache")
            await send(message)

        await self.app(scope, receive, send_with_headers)
