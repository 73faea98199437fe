"""WHEP playback (draft-ietf-wish-whep): ``POST /api/whep/{stream_id}`` with an SDP offer answers ``201``
with the viewer's answer and a session ``Location``; ``DELETE`` on it ends viewing.

The same edge rules as WHIP (``whip.py``); the streams service checks who may watch and audits the view.
A stream held by another process is answered ``307`` to that process.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from command_center.auth.deps import SessionDep
from command_center.errors import Forbidden, NotFound
from command_center.streams import service
from command_center.streams.placement import owner_url
from command_center.streams.redirect import redirect_to_owner
from command_center.streams.whip import (
    SDP,
    SDP_ERRORS,
    Caller,
    NotImplementedHere,
    Offer,
    not_acceptable,
    options_answer,
    process_of,
    relay_of,
    sdp_created,
)

router = APIRouter(tags=["whep"])


def _sessions(request: Request) -> dict[str, int]:
    """Viewer session id -> the user who opened it (only that user or a commander may end it)."""
    return request.app.state.whep_sessions  # type: ignore[no-any-return]


@router.options("/api/whep/{stream_id}", include_in_schema=False)
async def whep_options(stream_id: str) -> Response:
    return options_answer("OPTIONS, POST")


@router.post(
    "/api/whep/{stream_id}",
    status_code=201,
    response_class=Response,
    responses={201: {"content": {SDP: {}}}, **SDP_ERRORS},
)
async def whep_view(
    request: Request, stream_id: str, offer: Offer, principal: Caller, session: SessionDep
) -> Response:
    """Watch a live stream from any WHEP player; the viewer is pinned to the publisher's codec."""
    row = await service.viewable(session, principal, stream_id[:64])
    owner = owner_url(row, process_of(request))
    if owner is not None:
        return redirect_to_owner(request, owner, principal, request.app.state.settings)
    try:
        result = await service.open_view(
            session, relay_of(request), principal=principal, stream_id=row.id, offer_sdp=offer
        )
    except service.CodecRefused as exc:
        raise not_acceptable(exc) from exc
    sessions = _sessions(request)
    for gone in [s for s in sessions if relay_of(request).view_stream(s) is None]:
        del sessions[gone]  # viewers that left by closing their connection
    sessions[result.session_id] = principal.id
    return sdp_created(result.answer_sdp, f"/api/whep/{row.id}/{result.session_id}")


@router.options("/api/whep/{stream_id}/{session_id}", include_in_schema=False)
async def whep_session_options(stream_id: str, session_id: str) -> Response:
    return options_answer("OPTIONS, DELETE, PATCH")


@router.delete("/api/whep/{stream_id}/{session_id}", response_class=Response)
async def whep_stop(
    request: Request, stream_id: str, session_id: str, principal: Caller, session: SessionDep
) -> Response:
    row = await service.get(session, stream_id[:64])
    owner = owner_url(row, process_of(request))
    if owner is not None:
        return redirect_to_owner(request, owner, principal, request.app.state.settings)
    relay = relay_of(request)
    viewer = _sessions(request).get(session_id)
    if viewer is None or relay.view_stream(session_id) != row.id:
        raise NotFound(f"no viewing session {session_id[:64]} on stream {row.id}", field="session_id")
    if viewer != principal.id and not service.commands(principal):
        raise Forbidden("only the viewer who opened this session, or a commander, ends it")
    await relay.close_view(session_id)
    _sessions(request).pop(session_id, None)
    return Response(status_code=200)


@router.patch("/api/whep/{stream_id}/{session_id}", include_in_schema=False)
async def whep_patch(stream_id: str, session_id: str) -> Response:
    raise NotImplementedHere("no trickle ICE or ICE restart: the answer already carries every candidate")
