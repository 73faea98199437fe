"""Publishing from the command line: sign in, then WHIP (POST the offer as ``application/sdp`` to
``/api/whip``).

Only the HTTP glue lives here; connecting, media and reconnection are ``streaming.Publisher``'s. A
reconnection posts ``?stream_id=`` so viewers keep watching. Imported only when ``command-center stream
publish`` runs (``command_center.cli.stream``): it loads aiortc and PyAV.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from streaming import (
    Publisher,
    SignalingError,
    StreamingError,
    UnknownStream,
    WhipClient,
    ice_configuration,
    open_source,
)

CODECS = {"vp8": "video/VP8", "h264": "video/H264"}


class StreamsApi:
    """Sign-in, WHIP publishing and (for cascades) viewing; re-logs in once when the token has expired.

    Errors follow ``streaming.Publisher``'s contract: ``SignalingError`` for what a retry may fix (server
    unreachable, 5xx), another ``StreamingError`` for refusals (bad login, bad offer, forbidden).
    """

    def __init__(self, client: httpx.AsyncClient, user: str, password: str) -> None:
        self._client = client
        self._user = user
        self._password = password
        self._token: str | None = None
        self.whip = WhipClient(client, "/api/whip", self.token)

    async def login(self) -> None:
        try:
            response = await self._client.post(
                "/api/auth/token", data={"username": self._user, "password": self._password}
            )
        except httpx.HTTPError as exc:
            raise SignalingError(f"cannot reach the server: {exc}") from exc
        if response.status_code != 200:
            raise StreamingError(f"login failed for {self._user!r}: {_detail(response)}")
        self._token = str(response.json()["access_token"])

    async def token(self, refresh: bool = False) -> str:
        """The bearer token, signing in again when the last one was refused."""
        if self._token is None or refresh:
            await self.login()
        assert self._token is not None
        return self._token

    async def signal(self, offer: dict[str, Any]) -> dict[str, Any]:
        """WHIP ``POST /api/whip``; the ``streaming.Publisher`` signal."""
        return await self.whip.publish_signal(offer)

    def view_signal(self, stream_id: str) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
        """POST /api/streams/{id}/view, as a ``Relay.pull`` signal (a superior centre pulling a stream)."""

        async def signal(offer: dict[str, Any]) -> dict[str, Any]:
            response = await self._post(f"/api/streams/{stream_id}/view", offer)
            if response.status_code == 404:
                raise UnknownStream(stream_id)
            return self._answer(response)

        return signal

    async def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        if self._token is None:
            await self.login()
        for attempt in range(2):
            try:
                response = await self._client.post(
                    path, json=body, headers={"Authorization": f"Bearer {self._token}"}
                )
            except httpx.HTTPError as exc:
                raise SignalingError(f"cannot reach the server: {exc}") from exc
            if response.status_code != 401 or attempt == 1:
                return response
            await self.login()
        raise AssertionError("unreachable")

    @staticmethod
    def _answer(response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 500:
            raise SignalingError(f"server error {response.status_code}: {_detail(response)}")
        if response.status_code >= 400:
            # Refusals (bad offer, forbidden) will not get better by retrying.
            status = response.status_code
            raise StreamingError(f"the server refused the stream ({status}): {_detail(response)}")
        return dict(response.json())


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)


async def publish(
    args: argparse.Namespace, password: str, transport: httpx.AsyncBaseTransport | None = None
) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    async with httpx.AsyncClient(base_url=args.server.rstrip("/"), timeout=30, transport=transport) as client:
        api = StreamsApi(client, args.user, password)
        await api.login()
        publisher = Publisher(
            api.signal,
            lambda: open_source(args.source)[0],
            incident_id=args.incident,
            video_codec=CODECS.get(args.codec or ""),
            configuration=ice_configuration(args.stun),
        )
        stream_id = await publisher.connect()
        print(f"publishing stream {stream_id} from {args.source} to {args.server}", flush=True)
        await publisher.run(args.duration)
        print(f"stopped stream {stream_id} after {publisher.connections} connection(s)", flush=True)
    return 0
