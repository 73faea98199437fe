"""Cascades in the live system: this centre views a stream at another centre and relays it here.

Each cascade is a ``streaming.CascadeLink``, which pulls again by itself when the source centre restarts
or goes silent. Its bearer token at the source is kept encrypted in the stream's row (key derived from
``CC_SECRET_KEY``), so when this process restarts at the same public URL it resumes the cascades it held
under the same stream ids. Stopping the stream (``DELETE``) ends the link and forgets the token.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.auth.permissions import Permission, require
from command_center.auth.roles import Principal
from command_center.db import Database, utcnow
from command_center.errors import Forbidden
from command_center.events import Publisher, unit_of_work
from command_center.settings import Settings
from command_center.streams import targets
from command_center.streams.models import StreamRecord
from command_center.streams.placement import Process
from command_center.streams.schemas import CascadeRequest
from command_center.streams.service import announce, translate
from streaming import Relay, SignalingError, StreamingError, UnknownStream
from streaming.cascade import CascadeLink

log = logging.getLogger(__name__)


def _fernet(secret_key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"cascade-token:" + secret_key.encode()).digest()))


Signal = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
_MAX_REDIRECTS = 3


def view_signal(source: str, stream_id: str, token: str, settings: Settings) -> Signal:
    """``POST {source}/api/streams/{id}/view``: the signal a ``CascadeLink`` pulls with.

    A source with several processes answers 307 to the process holding the stream; the redirect is
    followed only to an address that is itself on the allow-list, and the remote's body is never shown.
    """

    async def signal(offer: dict[str, Any]) -> dict[str, Any]:
        url = f"{source}/api/streams/{stream_id}/view"
        async with httpx.AsyncClient(timeout=20, follow_redirects=False) as http:
            for _ in range(_MAX_REDIRECTS + 1):
                try:
                    response = await http.post(url, json=offer, headers={"Authorization": f"Bearer {token}"})
                except httpx.HTTPError as exc:
                    raise SignalingError(f"cannot reach {source} ({type(exc).__name__})") from exc
                if response.status_code not in (307, 308):
                    break
                location = str(response.url.join(response.headers.get("location", "")))
                try:
                    targets.resolve(settings, location, schemes=("http", "https"))
                except Forbidden as exc:
                    raise SignalingError(f"{source} redirected to an address not on the allow-list") from exc
                url = location
        if response.status_code == 404:
            raise UnknownStream(stream_id)
        if response.status_code >= 300:
            raise StreamingError(f"{source} refused the view request: HTTP {response.status_code}")
        try:
            return dict(response.json())
        except ValueError as exc:
            raise SignalingError(f"{source} did not answer with an SDP answer") from exc

    return signal


class Cascades:
    """The cascade links of this process."""

    def __init__(self, relay: Relay, settings: Settings, *, stale_after: float = 3.0) -> None:
        self._relay = relay
        self._settings = settings
        self._fernet = _fernet(settings.secret_key)
        self._stale_after = stale_after
        self.links: dict[str, CascadeLink] = {}

    def _link(self, source: str, stream_id: str, token: str, settings: Settings) -> CascadeLink:
        metadata = {"officer": f"{source} {stream_id}", "cascade": source}
        return CascadeLink(
            self._relay,
            view_signal(source, stream_id, token, settings),
            metadata=metadata,
            stale_after=self._stale_after,
        )

    async def start(
        self,
        session: AsyncSession,
        *,
        principal: Principal,
        data: CascadeRequest,
        settings: Settings,
        here: Process | None = None,
    ) -> StreamRecord:
        require(principal, Permission.incident_command)
        # The configured address that the typed one falls under, never the typed text itself (SSRF).
        source = targets.resolve(settings, str(data.source), schemes=("http", "https"))
        await session.commit()
        link = self._link(source, data.stream_id, data.token, settings)
        try:
            stream_id = await link.start()
        except StreamingError as exc:
            raise translate(exc) from exc
        self.links[stream_id] = link
        row = StreamRecord(
            id=stream_id,
            officer_id=None,
            officer_name=f"上级/下级中心 {source}",
            department=principal.department,
            source=f"{source}/streams/{data.stream_id}",
            started_at=utcnow(),
            segments=[],
            codecs={},
            cascade_secret=self._fernet.encrypt(data.token.encode()).decode(),
            drill=False,  # another centre's stream is never one of this centre's drills
        )
        if here is not None:
            here.claim(row)
        session.add(row)
        await announce(session, row, "stream.started")
        await audit.record(
            session,
            action="stream.cascade",
            actor=principal,
            target=f"stream:{row.id}",
            detail={"source": source, "source_stream": data.stream_id},
        )
        await session.flush()
        return row

    async def stop(self, stream_id: str) -> bool:
        link = self.links.pop(stream_id, None)
        if link is None:
            return False
        await link.stop()
        return True

    async def close(self) -> None:
        for stream_id in list(self.links):
            await self.stop(stream_id)

    async def resume(self, database: Database, publisher: Publisher | None, here: Process) -> list[str]:
        """Resume the cascades this process held before it restarted (same public URL), same stream ids."""
        resumed: list[str] = []
        async with unit_of_work(database, publisher) as session:
            query = select(StreamRecord).where(
                StreamRecord.cascade_secret.is_not(None),
                StreamRecord.stopped.is_(False),
                StreamRecord.owner_url.in_(["", here.url]),
            )
            rows = list((await session.execute(query)).scalars())
        for row in rows:
            try:
                token = self._fernet.decrypt((row.cascade_secret or "").encode()).decode()
            except InvalidToken:
                log.warning(
                    "cascade %s: its token cannot be read with this CC_SECRET_KEY; not resumed", row.id
                )
                continue
            source, _, source_stream = row.source.rpartition("/streams/")
            link = self._link(source, source_stream, token, self._settings)
            try:
                await link.start(row.id, adopt=True)
            except StreamingError as exc:
                log.warning("cascade %s: not resumed (%s)", row.id, exc.detail)
                continue
            self.links[row.id] = link
            resumed.append(row.id)
            async with unit_of_work(database, publisher) as session:
                current = await session.get(StreamRecord, row.id)
                if current is not None:
                    here.claim(current)
                    current.ended_at = None
                    current.connected = True
                    await announce(session, current, "stream.started")
        return resumed


class Sources:
    """Stopping a stream stops whatever feeds it here: a pull or a cascade (``service.stop``)."""

    def __init__(self, *stoppers: Any) -> None:
        self._stoppers = stoppers

    async def stop(self, stream_id: str) -> None:
        for stopper in self._stoppers:
            await stopper.stop(stream_id)
