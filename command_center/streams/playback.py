"""Recorded segments played and downloaded in the page, with HTTP range requests (RFC 9110, section 14).

A ``<video>`` element cannot send a bearer token, so the page first asks for a link: that request is
authenticated, checked against who may see the stream, and audited as a view (who, which segment, its
SHA-256 from the manifest). The link carries an HMAC over (stream, file, user, expiry) keyed from
``CC_SECRET_KEY``; the file itself is then served, byte ranges and all, only while the link is fresh. A file
is found through the stream's manifest, never through a path the client wrote.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse

from command_center.audit import service as audit
from command_center.auth.deps import CurrentUser, SessionDep, SettingsDep
from command_center.errors import Forbidden, NotFound
from command_center.settings import Settings
from command_center.streams import service

router = APIRouter(tags=["streams"])

LINK_SECONDS = 600
#: Stream ids and segment names as the relay makes them; anything else names no recording.
StreamIdParam = Annotated[str, PathParam(pattern="^[A-Za-z0-9_-]{1,64}$")]
FileParam = Annotated[str, PathParam(pattern="^[A-Za-z0-9._-]{1,200}$")]
MEDIA_TYPES = {".webm": "video/webm", ".mkv": "video/webm", ".mp4": "video/mp4"}


def _key(settings: Settings) -> bytes:
    return hashlib.sha256(b"cc-recording-link\x00" + settings.secret_key.encode()).digest()


def sign(settings: Settings, stream_id: str, file: str, user_id: int, expires: int) -> str:
    message = f"{stream_id}\x00{file}\x00{user_id}\x00{expires}".encode()
    return hmac.new(_key(settings), message, hashlib.sha256).hexdigest()


def _segment(row: Any, file: str) -> dict[str, Any]:
    for entry in row.segments or []:
        if entry.get("file") == file:
            return dict(entry)
    raise NotFound(f"stream {row.id} has no recorded segment {file!r}", field="file")


@router.post("/api/streams/{stream_id}/recordings/{file}/link")
async def recording_link(
    stream_id: StreamIdParam,
    file: FileParam,
    principal: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """A short-lived link to play or download one segment; asking for it is the audited view."""
    row = await service.get_visible(session, principal, stream_id)
    entry = _segment(row, file)
    expires = int(time.time()) + LINK_SECONDS
    signature = sign(settings, stream_id, file, principal.id, expires)
    await audit.record(
        session,
        action="recording.view",
        actor=principal,
        target=f"stream:{stream_id}",
        detail={"file": file, "sha256": entry.get("sha256"), "incident_id": row.incident_id},
    )
    url = (
        f"/api/recordings/{quote(stream_id)}/{quote(file)}"
        f"?user={principal.id}&expires={expires}&signature={signature}"
    )
    return {"url": url, "download_url": f"{url}&download=1", "expires": expires, **entry}


@router.get("/api/recordings/{stream_id}/{file}", response_class=FileResponse)
async def recording_file(
    stream_id: StreamIdParam,
    file: FileParam,
    session: SessionDep,
    settings: SettingsDep,
    user: Annotated[int, Query(ge=1, le=2**31 - 1)],
    expires: Annotated[int, Query(ge=0, le=2**40)],
    signature: Annotated[str, Query(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")],
    download: bool = False,
) -> FileResponse:
    """The segment's bytes (``Range`` answered with 206); the link must be signed and fresh."""
    good = sign(settings, stream_id, file, user, expires)
    if not hmac.compare_digest(good, signature) or expires < time.time():
        raise Forbidden("the recording link is invalid or has expired; ask for a new one", field="signature")
    row = await service.get(session, stream_id)
    entry = _segment(row, file)
    path = Path(settings.recordings_dir) / stream_id / str(entry["file"])
    if not path.is_file():
        raise NotFound(f"the recorded segment {file!r} is missing from the recordings folder", field="file")
    return FileResponse(
        path,
        media_type=MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"),
        filename=file if download else None,
        content_disposition_type="attachment" if download else "inline",
        headers={"X-Content-SHA256": str(entry.get("sha256") or ""), "Cache-Control": "private, max-age=600"},
    )
