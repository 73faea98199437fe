"""Fixtures: a relay with an event recorder, a synthetic publisher, and a viewer factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from streaming_helpers import Recorder, Viewer, relay_signal

from streaming import Publisher, Relay, SyntheticVideoTrack


@pytest.fixture
def events() -> Recorder:
    return Recorder()


@pytest.fixture
async def relay(tmp_path: Path, events: Recorder) -> AsyncIterator[Relay]:
    relay = Relay(tmp_path / "recordings", events, health_interval=0.5, reconnect_grace=5)
    yield relay
    await relay.close()


@pytest.fixture
async def publisher(relay: Relay) -> AsyncIterator[Publisher]:
    publisher = Publisher(relay_signal(relay), lambda: [SyntheticVideoTrack()])
    await publisher.connect()
    yield publisher
    await publisher.close()


@pytest.fixture
async def viewers() -> AsyncIterator[Callable[..., Viewer]]:
    made: list[Viewer] = []

    def make(**kwargs: Any) -> Viewer:
        viewer = Viewer(**kwargs)
        made.append(viewer)
        return viewer

    yield make
    await asyncio.gather(*(v.close() for v in made))
