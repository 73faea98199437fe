"""A cascade heals itself: body-cam -> centre -> superior keeps flowing when either centre restarts."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from command_center.app import create_app
from command_center.settings import Settings
from streaming import Publisher, SyntheticVideoTrack, UnknownStream, WhipClient
from tests.command_center.streams.whip_helpers import fixed_token, whep_viewer
from tests.conftest import DEMO_PASSWORD, TEST_SECRET, _migrate_and_seed, bearer
from tests.streaming.streaming_helpers import Viewer

pytestmark = pytest.mark.slow


class Centre:
    """One platform process on a fixed port and database; ``stop`` then ``start`` is a restart."""

    def __init__(self, tmp_path: Path, name: str, allowed: tuple[str, ...] = ()) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        self.settings = Settings(
            development=True,
            secret_key=TEST_SECRET,
            database_url=f"sqlite+aiosqlite:///{tmp_path / name}.db",
            recordings_dir=tmp_path / f"{name}-recordings",
            public_url=f"http://127.0.0.1:{port}",
            port=port,
            background_tasks=False,
            media_allowed_targets=list(allowed),
        )
        self.url = self.settings.own_url
        self._lifespan: Any = None
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        app = create_app(self.settings)
        self._lifespan = app.router.lifespan_context(app)
        await self._lifespan.__aenter__()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.settings.port, lifespan="off", log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        assert self._task is not None
        await self._task
        await self._lifespan.__aexit__(None, None, None)
        self._server = None


async def _token(http: httpx.AsyncClient, base: str, name: str) -> str:
    response = await http.post(f"{base}/api/auth/token", data={"username": name, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def _until(predicate, timeout: float = 40) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_cascade_survives_restarts_of_the_source_and_of_the_superior(tmp_path: Path) -> None:
    source = Centre(tmp_path, "source")
    superior = Centre(tmp_path, "superior", allowed=(source.url,))  # the superior may pull from the source
    await _migrate_and_seed(source.settings.database_url)
    await _migrate_and_seed(superior.settings.database_url)
    viewers: list[Viewer] = []
    running: asyncio.Task[None] | None = None
    async with httpx.AsyncClient(timeout=30) as http:
        await source.start()
        await superior.start()
        field = await _token(http, source.url, "field1")
        whip = WhipClient(http, f"{source.url}/api/whip", fixed_token(field))
        publisher = Publisher(
            whip.publish_signal,
            lambda: [SyntheticVideoTrack()],
            retry_delay=0.2,
            max_retry_delay=1,
            media_timeout=2,
        )
        try:
            stream_id = await publisher.connect()
            running = asyncio.create_task(publisher.run())
            commander = await _token(http, superior.url, "commander")
            created = await http.post(
                f"{superior.url}/api/streams/cascade",
                headers=bearer(commander),
                json={
                    "source": source.url,
                    "stream_id": stream_id,
                    "token": await _token(http, source.url, "commander"),
                },
            )
            assert created.status_code == 201, created.text
            relayed = created.json()["id"]
            viewer, _ = await whep_viewer(http, superior.url, commander, relayed)
            viewers.append(viewer)
            await viewer.wait_frames(10, timeout=30)

            # The source centre restarts; its publisher comes back under the same stream id, and the
            # superior's cascade pulls it again by itself: the superior's viewer keeps its track.
            await source.stop()
            await source.start()
            await _until(lambda: publisher.connections >= 2)
            assert publisher.stream_id == stream_id
            frames = viewer.frames
            await viewer.wait_frames(frames + 20, timeout=40)

            # The superior restarts: it resumes the cascade under the same stream id.
            await superior.stop()
            await superior.start()

            # The superior resumes its cascades in the background: the stream is back once it can be viewed.
            again = None
            deadline = asyncio.get_running_loop().time() + 40
            while again is None:
                try:
                    again, _ = await whep_viewer(http, superior.url, commander, relayed)
                except UnknownStream:
                    if asyncio.get_running_loop().time() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            viewers.append(again)
            await again.wait_frames(10, timeout=40)
            row = (await http.get(f"{superior.url}/api/streams/{relayed}", headers=bearer(commander))).json()
            assert row["ended_at"] is None and row["connected"] is True

            # Stopped on purpose, it stays stopped: a later restart does not resume it.
            assert (
                await http.delete(f"{superior.url}/api/streams/{relayed}", headers=bearer(commander))
            ).status_code == 200
            await superior.stop()
            await superior.start()
            row = (await http.get(f"{superior.url}/api/streams/{relayed}", headers=bearer(commander))).json()
            assert row["ended_at"] is not None
        finally:
            for viewer in viewers:
                await viewer.close()
            if running is not None:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
            await publisher.close()
            await superior.stop()
            await source.stop()
