"""``Idempotency-Key`` for every creating POST, in one place instead of in each route.

A creating POST is one whose route answers 201; the header is optional. The request's user is resolved from
its bearer token (an anonymous or invalid one passes through and gets its 401 from the route), the body is
read (the body limit outside this middleware bounds it) and fingerprinted, and then the key is reserved,
replayed or refused by :mod:`command_center.idempotency.service`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from command_center.auth import tokens
from command_center.db import utcnow
from command_center.errors import CommandCenterError
from command_center.idempotency import service

HEADER = b"idempotency-key"
_VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")
# Headers of the first response that a replay repeats (Location and ETag matter for WHIP and 201s).
_KEPT_HEADERS = {"content-type", "location", "etag"}


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _header(scope, HEADER) if scope["type"] == "http" and scope["method"] == "POST" else None
        if key is None or not _creates(scope):
            await self.app(scope, receive, send)
            return
        if not _VALID_KEY.fullmatch(key):
            await _send_error(send, 422, _invalid_key())
            return
        state = scope["app"].state
        user_id = await _user_id(scope, state)
        if user_id is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        clock: Callable[[], datetime] = getattr(state, "clock", utcnow)
        try:
            outcome = await service.reserve(
                state.db, user_id=user_id, key=key, fingerprint=_fingerprint(scope, body), now=clock()
            )
        except CommandCenterError as exc:
            body_ = {"error": exc.code, "detail": exc.detail, "field": exc.field, "params": exc.params}
            await _send_error(send, exc.status_code, body_)
            return
        if isinstance(outcome, service.Stored):
            await _replay(send, outcome)
            return
        await self._run(scope, body, send, state, outcome)

    async def _run(
        self, scope: Scope, body: bytes, send: Send, state: Any, reserved: service.Reserved
    ) -> None:
        status = 500
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []
        delivered = False

        async def replay_receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.decode("latin-1").lower() in _KEPT_HEADERS:
                        headers.append((name.decode("latin-1"), value.decode("latin-1")))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        except BaseException:
            await service.release(state.db, reserved)
            raise
        if 200 <= status < 300:
            await service.complete(
                state.db, reserved, status_code=status, headers=headers, body=b"".join(chunks)
            )
        else:
            await service.release(state.db, reserved)


def _creates(scope: Scope) -> bool:
    """True if the request goes to a route that creates something: a POST documented as answering 201.

    Read from the OpenAPI document (built once per app) rather than from the router, whose layout is
    FastAPI's business; the document is also what tells clients which routes take the header.
    """
    app = scope["app"]
    patterns: list[re.Pattern[str]] | None = getattr(app.state, "creating_post_paths", None)
    if patterns is None:
        patterns = [
            re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$")
            for path, operations in app.openapi().get("paths", {}).items()
            if "201" in operations.get("post", {}).get("responses", {})
        ]
        app.state.creating_post_paths = patterns
    return any(pattern.match(scope["path"]) for pattern in patterns)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _user_id(scope: Scope, state: Any) -> int | None:
    authorization = _header(scope, b"authorization") or ""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        principal = await tokens.authenticate(state.db, token.strip(), settings=state.settings)
    except CommandCenterError:
        return None
    return principal.id


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _fingerprint(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1")):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


def _invalid_key() -> dict[str, Any]:
    return {
        "error": "validation_error",
        "detail": "Idempotency-Key: 1 to 255 visible ASCII characters (a UUID is a good key)",
        "field": "Idempotency-Key",
        "params": {"rule": "idempotency_key_format", "max_length": 255},
    }


async def _send_error(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _replay(send: Send, stored: service.Stored) -> None:
    headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in stored.headers]
    headers += [
        (b"content-length", str(len(stored.body)).encode()),
        (b"idempotent-replayed", b"true"),
    ]
    await send({"type": "http.response.start", "status": stored.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body})
