"""WHIP ingest (RFC 9725): ``POST /api/whip`` with an SDP offer publishes a stream; the session resource
``/api/whip/{stream_id}`` ends it with ``DELETE``.

Only the HTTP edge is here; the streams service decides and audits exactly as for ``POST /api/streams``.
Status codes as the RFC gives them: ``201`` with the answer, ``Location`` and ``ETag``; ``415`` for a body
that is not ``application/sdp``; ``400`` for malformed SDP; ``406`` for an offer whose media the relay
cannot forward; ``501`` for ``PATCH`` (no trickle ICE: the answer carries every candidate); ``503`` with
``Retry-After`` when this process's relay is full; ``307`` to the owning process for a stream held elsewhere.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from command_center.auth import tokens
from command_center.auth.deps import SessionDep
from command_center.auth.roles import Principal
from command_center.errors import BadRequest, CommandCenterError, NotAuthenticated, NotFound, TooLarge
from command_center.streams import service
from command_center.streams.placement import Process, owner_url
from command_center.streams.redirect import principal_for_ticket, redirect_to_owner
from command_center.streams.schemas import PublishOffer
from streaming import Relay

SDP = "application/sdp"
MAX_SDP_BYTES = 64 * 1024
ALLOW_HEADERS = "Authorization, Content-Type, If-Match"
EXPOSE_HEADERS = "Location, ETag, Retry-After, Accept-Post, Link"

router = APIRouter(tags=["whip"])


class UnsupportedMediaType(CommandCenterError):
    code = "unsupported_media_type"
    status_code = 415

    def __init__(self, detail: str) -> None:
        super().__init__(detail, field="content-type")
        self.headers = {"Accept-Post": SDP}


class NotAcceptable(CommandCenterError):
    code = "not_acceptable"
    status_code = 406


class NotImplementedHere(CommandCenterError):
    code = "not_implemented"
    status_code = 501


async def sdp_offer(request: Request) -> str:
    """The request's SDP offer, checked before authentication (type, size, text)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != SDP:
        raise UnsupportedMediaType(f"send the offer as Content-Type: {SDP} (got {media_type or 'none'})")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SDP_BYTES:
            raise TooLarge(f"the SDP offer is over {MAX_SDP_BYTES} bytes", field="sdp")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the SDP offer is not UTF-8 text", field="sdp") from exc
    if not text.startswith("v=0"):
        raise BadRequest("malformed SDP offer: it must start with 'v=0'", field="sdp")
    return text


_bearer = HTTPBearer(auto_error=False)


async def caller(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ticket: Annotated[str | None, Query(max_length=200, description="from a 307 redirect")] = None,
) -> Principal:
    """``Authorization: Bearer`` or, after a redirect between processes, the ``ticket`` it carries."""
    settings = request.app.state.settings
    if credentials is not None and credentials.scheme.lower() == "bearer":
        principal = await tokens.authenticate(
            request.app.state.db, credentials.credentials, settings=settings
        )
    elif ticket is not None:
        principal = await principal_for_ticket(session, settings, ticket, request.url.path)
    else:
        raise NotAuthenticated("sign in first: send 'Authorization: Bearer <token>'")
    request.state.principal = principal
    return principal


Offer = Annotated[str, Depends(sdp_offer)]
Caller = Annotated[Principal, Depends(caller)]


def relay_of(request: Request) -> Relay:
    return request.app.state.relay  # type: ignore[no-any-return]


def process_of(request: Request) -> Process:
    return request.app.state.process  # type: ignore[no-any-return]


def etag(answer_sdp: str) -> str:
    """The ICE session's entity tag: changes with the answer's ICE credentials (RFC 9725 section 4.3.1)."""
    return '"' + hashlib.sha256(answer_sdp.encode()).hexdigest()[:20] + '"'


def sdp_created(answer_sdp: str, location: str) -> Response:
    headers = {
        "Location": location,
        "ETag": etag(answer_sdp),
        "Access-Control-Expose-Headers": EXPOSE_HEADERS,
    }
    return Response(answer_sdp, status_code=201, media_type=SDP, headers=headers)


def options_answer(methods: str) -> Response:
    """``OPTIONS`` (also the browsers' CORS preflight, completed by ``SdpCors``): what may be sent here."""
    headers = {
        "Accept-Post": SDP,
        "Allow": methods,
        "Access-Control-Allow-Methods": methods,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
    }
    return Response(status_code=204, headers=headers)


def not_acceptable(exc: service.CodecRefused) -> NotAcceptable:
    return NotAcceptable(exc.detail, field="sdp")


#: What a WHIP/WHEP endpoint answers besides the platform's common errors (RFC 9725 section 4).
SDP_ERRORS: dict[int | str, dict[str, Any]] = {
    307: {"description": "the stream is held by another process: repeat the request at Location"},
    406: {"description": "the offer has no media the relay can forward without transcoding"},
    415: {"description": "the body is not application/sdp"},
    503: {"description": "the relay is full; retry after 'Retry-After' seconds"},
}


@router.options("/api/whip", include_in_schema=False)
async def whip_options() -> Response:
    return options_answer("OPTIONS, POST")


@router.post(
    "/api/whip",
    status_code=201,
    response_class=Response,
    responses={201: {"content": {SDP: {}}}, **SDP_ERRORS},
)
async def whip_publish(
    request: Request,
    offer: Offer,
    principal: Caller,
    session: SessionDep,
    incident_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    stream_id: Annotated[
        str | None, Query(max_length=64, description="resume your own live stream after a drop")
    ] = None,
) -> Response:
    """Publish a stream from any WHIP client (OBS, GStreamer, hardware encoders, the field page).

    ``stream_id`` (an extension; plain WHIP clients never send it) lets a publisher whose connection
    dropped take over its live stream again, so viewers keep watching; 404 when it has ended.
    """
    data = PublishOffer(sdp=offer, type="offer", incident_id=incident_id, stream_id=stream_id)
    try:
        stream_id, answer = await service.publish(
            session, relay_of(request), principal=principal, data=data, here=process_of(request)
        )
    except service.CodecRefused as exc:
        raise not_acceptable(exc) from exc
    return sdp_created(answer, f"/api/whip/{stream_id}")


@router.options("/api/whip/{stream_id}", include_in_schema=False)
async def whip_session_options(stream_id: str) -> Response:
    return options_answer("OPTIONS, DELETE, PATCH")


@router.delete("/api/whip/{stream_id}", response_class=Response)
async def whip_stop(request: Request, stream_id: str, principal: Caller, session: SessionDep) -> Response:
    """End the stream (its recordings stay); the publisher or a commander may."""
    row = await service.get(session, stream_id[:64])
    owner = owner_url(row, process_of(request))
    if owner is not None:
        return redirect_to_owner(request, owner, principal, request.app.state.settings)
    if row.ended_at is not None:
        raise NotFound(f"stream {stream_id} has already ended", field="stream_id")
    await service.stop(
        session, relay_of(request), principal=principal, stream_id=row.id, sources=request.app.state.sources
    )
    return Response(status_code=200)


@router.patch("/api/whip/{stream_id}", include_in_schema=False)
async def whip_patch(stream_id: str) -> Response:
    raise NotImplementedHere("no trickle ICE or ICE restart: the answer already carries every candidate")


class SdpCors:
    """ASGI middleware: every answer under ``/api/whip`` and ``/api/whep`` may be read cross-origin.

    WHIP/WHEP clients send the bearer token themselves (no cookies), so ``*`` exposes nothing a caller
    could not already ask for; it lets a page follow a 307 to another process and read the answer there.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope.get("type") == "http" else ""
        if not path.startswith(("/api/whip", "/api/whep")):
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Any) -> None:
            if message["type"] == "http.response.start":
                replaced = (b"access-control-allow-origin", b"access-control-expose-headers")
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in replaced]
                headers += [
                    (b"access-control-allow-origin", b"*"),
                    (b"access-control-expose-headers", EXPOSE_HEADERS.encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)
