"""Broker limits of issue 11: history bounded under a flood (60 KB frames grew a server from 226 to 552 MB
for good), and an outbox row's key seen once across processes."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from command_center.hub import Position, create_broker
from command_center.hub.broker.memory import MemoryBroker
from tests.services import REDIS_URL, redis_available, require

pytestmark = pytest.mark.timeout(120)

FRAME = "x" * 60_000  # the observed frame size


async def test_memory_history_stays_under_its_byte_budget() -> None:
    budget = 2 * 1024 * 1024
    broker = create_broker("memory://", history_size=1000, history_bytes=budget)
    assert isinstance(broker, MemoryBroker)
    await broker.start(lambda m: None, lambda c, p: None)
    first = await broker.publish("user:1", {"type": "webrtc.view", "pad": FRAME})
    for n in range(300):  # 18 MB of frames over many channels, each far below its count limit
        await broker.publish(f"user:{n % 30}", {"type": "webrtc.view", "pad": FRAME}, idempotency_key=f"k{n}")
        assert broker.history_bytes <= budget
    # What was evicted is said, never silently skipped; what is held is still recovered exactly.
    evicted = await broker.recover("user:1", Position(first.message.offset - 1, broker.epoch))
    assert evicted.recovered is False
    position = await broker.position("user:29")
    recent = await broker.recover("user:29", Position(position.offset - 1, broker.epoch))
    assert recent.recovered is True and len(recent.messages) == 1
    # A repeated key is still known (by its offset) after its frame left the history.
    again = await broker.publish("user:0", {"type": "webrtc.view"}, idempotency_key="k0")
    assert again.duplicate and again.message.offset == 1
    await broker.close()


async def test_redis_streams_are_capped_by_maxlen_under_a_flood() -> None:
    require("redis", redis_available())
    channel = f"taskforce:flood-{uuid.uuid4().hex[:8]}"
    broker = create_broker(REDIS_URL, history_size=50, history_seconds=3600)
    await broker.start(lambda m: None, lambda c, p: None)
    redis = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        for n in range(600):
            await broker.publish(channel, {"type": "flood", "n": n, "pad": FRAME[:2000]})
        length = await redis.xlen(f"cc:hub:{{{channel}}}:log")
        # ``MAXLEN ~`` trims whole radix-tree nodes (100 entries by default): bounded, never growing.
        assert 50 <= length <= 50 + 100, length
    finally:
        await redis.delete(*[f"cc:hub:{{{channel}}}:{part}" for part in ("log", "seq", "epoch")])
        await redis.aclose()
        await broker.close()


async def test_an_outbox_key_is_published_once_across_processes() -> None:
    """Two processes' relays (two brokers) publishing the same row: one message, the same offset for both."""
    require("redis", redis_available())
    channel = f"taskforce:idem-{uuid.uuid4().hex[:8]}"
    one, two = (create_broker(REDIS_URL, history_size=50) for _ in range(2))
    for broker in (one, two):
        await broker.start(lambda m: None, lambda c, p: None)
    try:
        data = {"type": "incident.created", "id": 1, "drill": False}
        first = await one.publish(channel, data, idempotency_key="server:outbox:41")
        second = await two.publish(channel, data, idempotency_key="server:outbox:41")
        assert (first.duplicate, second.duplicate) == (False, True)
        assert second.message.offset == first.message.offset
        assert (await two.position(channel)).offset == first.message.offset
    finally:
        await one.close()
        await two.close()


# Named ids: each xdist worker has a Redis URL of its own, and every worker must collect the same test ids.
@pytest.mark.parametrize("url", ["memory://", REDIS_URL], ids=["memory", "redis"])
async def test_publish_many_keeps_order_and_keys(url: str) -> None:
    """The relay's batch: in order, one offset each, a key already seen answered as a duplicate."""
    if url.startswith("redis"):
        require("redis", redis_available())
    channel = f"taskforce:batch-{uuid.uuid4().hex[:8]}"
    broker = create_broker(url, history_size=50)
    await broker.start(lambda m: None, lambda c, p: None)
    try:
        await broker.publish(channel, {"type": "t", "n": 0}, idempotency_key="server:outbox:1")
        items = [(channel, {"type": "t", "n": n}, f"server:outbox:{n + 1}") for n in range(4)]
        results = await broker.publish_many(items)
        assert [r.duplicate for r in results] == [True, False, False, False]
        assert [r.message.offset for r in results] == [1, 2, 3, 4]
        assert [r.message.data["n"] for r in results[1:]] == [1, 2, 3]
    finally:
        await broker.close()
