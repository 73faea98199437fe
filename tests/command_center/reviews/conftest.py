"""Fixtures of the review tests: a finished drill with its review opened by ``open_for_drill``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.command_center.reviews.helpers import finished_drill


@pytest.fixture
async def opened(app: Any, published: Any) -> tuple[int, int]:
    """(drill id, review id) of a finished drill: phone report P, written report M, police U."""
    drill_id, review_id = await finished_drill(app.state.db, app.state.hub)
    await app.state.outbox.drain()  # the relay publishes what the drill's end committed
    assert review_id is not None
    return drill_id, review_id
