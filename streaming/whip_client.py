"""A WHIP (RFC 9725) and WHEP client over httpx: the signaling the field publisher and tools speak.

``WhipClient.publish_signal`` is a ``Publisher`` signal: it POSTs the offer as ``application/sdp`` with a
bearer token, follows ``307`` to the process holding the stream, and returns ``{"id", "sdp"}`` with the id
taken from the session ``Location``. ``delete`` ends the session. Errors follow ``Publisher``'s contract:
``SignalingError`` for what a retry may fix (unreachable, 5xx, 503 full), ``StreamingError`` for refusals.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from streaming.errors import SignalingError, StreamingError, UnknownStream

SDP = "application/sdp"
#: ``token(refresh)`` returns a bearer token; ``refresh`` is True after the last one was refused (401).
Token = Callable[[bool], Awaitable[str]]


class WhipClient:
    """One WHIP or WHEP endpoint and, after a successful POST, its session resource."""

    def __init__(self, http: httpx.AsyncClient, endpoint: str, token: Token) -> None:
        self._http = http
        self._endpoint = endpoint
        self._token = token
        self.session_url: str | None = None
        self.etag: str | None = None

    async def post_offer(self, offer_sdp: str, params: dict[str, Any] | None = None) -> str:
        """POST the offer; return the answer SDP and remember the session resource."""
        response = await self._send("POST", self._endpoint, offer_sdp, params)
        if response.status_code == 404:
            raise UnknownStream(self._endpoint.rsplit("/", 1)[-1])
        _check(response)
        if response.status_code != 201 or "location" not in response.headers:
            raise SignalingError(f"expected 201 with a Location, got {response.status_code}")
        self.session_url = str(response.url.join(response.headers["location"]))
        self.etag = response.headers.get("etag")
        return response.text

    async def publish_signal(self, offer: dict[str, Any]) -> dict[str, Any]:
        """The ``streaming.Publisher`` signal; a reconnection asks for its stream with ``?stream_id=``."""
        params = {k: offer[k] for k in ("incident_id", "stream_id") if offer.get(k)}
        answer = await self.post_offer(offer["sdp"], params or None)
        assert self.session_url is not None
        return {"id": self.session_url.rstrip("/").rsplit("/", 1)[-1], "sdp": answer, "type": "answer"}

    async def delete(self) -> int:
        """End the session (stream or viewing); return the status code (200, or 404 if already gone)."""
        if self.session_url is None:
            return 404
        response = await self._send("DELETE", self.session_url, None, None)
        if response.status_code not in (200, 204, 404):
            _check(response)
        self.session_url = None
        return response.status_code

    async def _send(
        self, method: str, url: str, body: str | None, params: dict[str, Any] | None
    ) -> httpx.Response:
        for attempt in range(2):
            headers = {"Authorization": f"Bearer {await self._token(attempt == 1)}"}
            if body is not None:
                headers["Content-Type"] = SDP
            try:
                response = await self._http.request(
                    method, url, content=body, params=params, headers=headers, follow_redirects=True
                )
            except httpx.HTTPError as exc:
                raise SignalingError(f"cannot reach {url}: {exc}") from exc
            if response.status_code != 401 or attempt == 1:
                return response
        raise AssertionError("unreachable")


def _check(response: httpx.Response) -> None:
    status = response.status_code
    if status >= 500:
        retry = response.headers.get("retry-after")
        raise SignalingError(f"server busy or failing ({status}{', retry after ' + retry if retry else ''})")
    if status >= 400:
        raise StreamingError(f"refused ({status}): {response.text[:300]}")
