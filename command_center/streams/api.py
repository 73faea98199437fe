"""Streams API (DESIGN.md section 9): publish and view with non-trickle SDP, list, position, stop, cascade."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, status
from fastapi.responses import RedirectResponse

from command_center.auth.deps import CurrentUser, SessionDep, SettingsDep
from command_center.limits import IdQuery
from command_center.streams import pulls, service
from command_center.streams.placement import owner_url
from command_center.streams.redirect import redirect_to_owner
from command_center.streams.schemas import (
    Answer,
    CascadeRequest,
    Offer,
    PositionUpdate,
    PublishOffer,
    PullRequest,
    StreamRead,
)
from command_center.streams.whip import Caller
from streaming import Relay

StreamId = Annotated[str, Path(min_length=1, max_length=64)]

router = APIRouter(prefix="/api/streams", tags=["streams"])


def _relay(request: Request) -> Relay:
    relay: Relay = request.app.state.relay
    return relay


@router.post("", response_model=Answer, status_code=status.HTTP_201_CREATED)
async def publish(
    body: PublishOffer, request: Request, principal: CurrentUser, session: SessionDep
) -> Answer:
    stream_id, sdp = await service.publish(
        session, _relay(request), principal=principal, data=body, here=request.app.state.process
    )
    return Answer(id=stream_id, sdp=sdp)


@router.get("", response_model=list[StreamRead])
async def list_streams(
    principal: CurrentUser, session: SessionDep, incident_id: IdQuery = None, include_ended: bool = False
) -> list[dict[str, Any]]:
    """Live streams; ``include_ended=true`` adds ended ones, whose recordings stay."""
    rows = await service.list_streams(
        session, principal, incident_id=incident_id, include_ended=include_ended
    )
    return [service.view(r) for r in rows]


@router.get("/{stream_id}", response_model=StreamRead)
async def get_stream(stream_id: StreamId, principal: CurrentUser, session: SessionDep) -> dict[str, Any]:
    return service.view(await service.get_visible(session, principal, stream_id))


@router.post("/{stream_id}/view", response_model=Answer, responses={307: {"description": "held elsewhere"}})
async def view_stream(
    stream_id: StreamId, body: Offer, request: Request, principal: Caller, session: SessionDep
) -> Answer | RedirectResponse:
    """Answer a viewer's offer; a stream held by another process is answered 307 to that process."""
    row = await service.viewable(session, principal, stream_id)
    owner = owner_url(row, request.app.state.process)
    if owner is not None:
        return redirect_to_owner(request, owner, principal, request.app.state.settings)
    sdp = await service.watch(
        session, _relay(request), principal=principal, stream_id=stream_id, offer_sdp=body.sdp
    )
    return Answer(id=stream_id, sdp=sdp)


@router.post("/{stream_id}/position", response_model=StreamRead)
async def report_position(
    stream_id: StreamId, body: PositionUpdate, request: Request, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    row = await service.update_position(
        session,
        _relay(request),
        principal=principal,
        stream_id=stream_id,
        lat=body.lat,
        lon=body.lon,
        accuracy=body.accuracy,
    )
    return service.view(row)


@router.delete("/{stream_id}", response_model=StreamRead)
async def stop_stream(
    stream_id: StreamId, request: Request, principal: CurrentUser, session: SessionDep
) -> dict[str, Any]:
    row = await service.stop(
        session, _relay(request), principal=principal, stream_id=stream_id, sources=request.app.state.sources
    )
    return service.view(row)


@router.get("/{stream_id}/recordings")
async def stream_recordings(
    stream_id: StreamId, principal: CurrentUser, session: SessionDep
) -> list[dict[str, Any]]:
    """The recording manifest (segment files with SHA-256), also after the stream ended."""
    return service.recordings(await service.get_visible(session, principal, stream_id))


@router.post("/cascade", response_model=StreamRead, status_code=status.HTTP_201_CREATED)
async def cascade(
    body: CascadeRequest, request: Request, principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Relay a stream of another centre; ``source`` must be in CC_MEDIA_ALLOWED_TARGETS (else 403)."""
    row = await request.app.state.cascades.start(
        session, principal=principal, data=body, settings=settings, here=request.app.state.process
    )
    return service.view(row)


@router.post(
    "/pull",
    response_model=StreamRead,
    status_code=status.HTTP_201_CREATED,
    responses={502: {"description": "the source cannot be reached or does not send playable video"}},
)
async def pull(
    body: PullRequest, request: Request, principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    """Pull an rtsp:// or rtmp:// source on the allow-list; H.264/VP8 forwarded untranscoded."""
    row = await pulls.start(
        session,
        request.app.state.puller,
        principal=principal,
        data=body,
        settings=settings,
        here=request.app.state.process,
    )
    return service.view(row)
