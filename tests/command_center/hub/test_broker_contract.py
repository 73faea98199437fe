"""One contract, every backend: offsets, idempotency, history, recovery, live order, presence."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from command_center.hub import Message, Position, create_broker
from command_center.hub.broker.base import Broker, BrokerUnavailable
from command_center.hub.broker.redis import RedisBroker
from tests.command_center.hub.conftest import RedisServer
from tests.services import REDIS_URL, redis_available, require

pytestmark = pytest.mark.timeout(120)


class Sink:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.resets: list[tuple[str, Position]] = []

    def deliver(self, message: Message) -> None:
        self.messages.append(message)

    def reset(self, channel: str, position: Position) -> None:
        self.resets.append((channel, position))


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Broker, Sink]]:
    if request.param == "redis":
        require("redis", redis_available())
        url = REDIS_URL
    else:
        url = "memory://"
    broker = create_broker(url, history_size=20, history_seconds=3600)
    sink = Sink()
    await broker.start(sink.deliver, sink.reset)
    yield broker, sink
    await broker.close()


def channel_name() -> str:
    return f"taskforce:{uuid.uuid4().hex[:12]}"


async def until(predicate, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def test_offsets_rise_by_one_with_a_stable_epoch(backend: tuple[Broker, Sink]) -> None:
    broker, _ = backend
    channel = channel_name()
    assert (await broker.position(channel)).offset == 0
    results = [await broker.publish(channel, {"type": "t", "n": i}) for i in range(5)]
    assert [r.message.offset for r in results] == [1, 2, 3, 4, 5]
    assert len({r.message.epoch for r in results}) == 1
    assert await broker.position(channel) == Position(5, results[0].message.epoch)
    assert results[2].message.data == {"type": "t", "n": 2}
    assert results[0].message.ts.endswith("Z")
    other = channel_name()
    assert (await broker.publish(other, {"type": "t"})).message.offset == 1


async def test_concurrent_publishes_get_distinct_consecutive_offsets(backend: tuple[Broker, Sink]) -> None:
    broker, _ = backend
    channel = channel_name()
    results = await asyncio.gather(*(broker.publish(channel, {"type": "t", "n": i}) for i in range(50)))
    assert sorted(r.message.offset for r in results) == list(range(1, 51))


async def test_idempotency_key_returns_the_original_offset(backend: tuple[Broker, Sink]) -> None:
    broker, _ = backend
    channel = channel_name()
    first = await broker.publish(channel, {"type": "t"}, idempotency_key="u1:a")
    await broker.publish(channel, {"type": "t"}, idempotency_key="u1:b")
    again = await broker.publish(channel, {"type": "t", "changed": True}, idempotency_key="u1:a")
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.message.offset == first.message.offset == 1
    assert again.message.frame == first.message.frame
    assert (await broker.position(channel)).offset == 2


async def test_recover_from_history(backend: tuple[Broker, Sink]) -> None:
    broker, _ = backend
    channel = channel_name()
    epoch = (await broker.publish(channel, {"type": "t", "n": 0})).message.epoch
    for n in range(1, 6):
        await broker.publish(channel, {"type": "t", "n": n})
    fresh = await broker.recover(channel, None)
    assert (fresh.position, fresh.recovered, fresh.messages) == (Position(6, epoch), None, [])
    recovery = await broker.recover(channel, Position(2, epoch))
    assert recovery.recovered is True
    assert [m.offset for m in recovery.messages] == [3, 4, 5, 6]
    assert [m.data["n"] for m in recovery.messages] == [2, 3, 4, 5]
    current = await broker.recover(channel, Position(6, epoch))
    assert (current.recovered, current.messages) == (True, [])
    assert (await broker.recover(channel, Position(2, "other"))).recovered is False
    assert (await broker.recover(channel, Position(9, epoch))).recovered is False


async def test_history_is_bounded_and_a_trimmed_gap_is_not_recovered(backend: tuple[Broker, Sink]) -> None:
    broker, _ = backend
    channel = channel_name()
    epoch = (await broker.publish(channel, {"type": "t"})).message.epoch
    for _ in range(199):
        await broker.publish(channel, {"type": "t"})
    # history_size=20 (Redis trims approximately, so "at least 20 and far fewer than 200").
    assert (await broker.recover(channel, Position(1, epoch))).recovered is False
    recent = await broker.recover(channel, Position(185, epoch))
    assert recent.recovered is True and [m.offset for m in recent.messages] == list(range(186, 201))


async def test_live_messages_in_order_once_for_subscribed_channels(backend: tuple[Broker, Sink]) -> None:
    broker, sink = backend
    channel, other = channel_name(), channel_name()
    await broker.publish(channel, {"type": "before"})
    await broker.subscribe(channel)
    for n in range(20):
        await broker.publish(channel, {"type": "t", "n": n})
        await broker.publish(other, {"type": "elsewhere"})
    await until(lambda: len(sink.messages) >= 20)
    await asyncio.sleep(0.05)
    assert [m.offset for m in sink.messages] == list(range(2, 22))
    assert {m.channel for m in sink.messages} == {channel}
    await broker.unsubscribe(channel)
    await broker.publish(channel, {"type": "after"})
    await asyncio.sleep(0.05)
    assert len(sink.messages) == 20


async def test_presence(backend: tuple[Broker, Sink]) -> None:
    broker, _ = backend
    channel = channel_name()
    alice = {"id": 1, "name": "alice", "role": "admin", "department": "section"}
    bob = {"id": 2, "name": "bob", "role": "commander", "department": "section"}
    await broker.presence_join(channel, "c1", alice)
    await broker.presence_join(channel, "c2", bob)
    await broker.presence_join(channel, "c3", alice)  # a second tab of the same user
    assert await broker.presence(channel) == [alice, bob]
    await broker.presence_leave(channel, "c1")
    assert await broker.presence(channel) == [alice, bob]
    await broker.presence_leave(channel, "c3")
    assert await broker.presence(channel) == [bob]


async def test_ping(backend: tuple[Broker, Sink]) -> None:
    broker, _ = backend
    assert await broker.ping() is True


async def test_redis_ping_is_false_not_an_exception_when_unreachable() -> None:
    broker = create_broker("redis://127.0.0.1:1/0")
    try:
        assert await broker.ping() is False
    finally:
        await broker.close()


async def test_redis_data_loss_changes_the_epoch_and_resets_subscribers() -> None:
    require("redis", redis_available())
    import redis.asyncio as aioredis

    broker = create_broker(REDIS_URL, history_size=20)
    sink = Sink()
    await broker.start(sink.deliver, sink.reset)
    channel = channel_name()
    try:
        await broker.subscribe(channel)
        before = (await broker.publish(channel, {"type": "t"})).message
        await until(lambda: len(sink.messages) == 1)
        client = aioredis.Redis.from_url(REDIS_URL)
        keys = [key async for key in client.scan_iter(match=f"cc:hub:{{{channel}}}:*")]
        await client.delete(*keys)  # what a Redis restart without persistence does
        await client.aclose()
        after = (await broker.publish(channel, {"type": "t"})).message
        assert after.offset == 1 and after.epoch != before.epoch
        await until(lambda: len(sink.resets) == 1)
        assert sink.resets[0][0] == channel and sink.resets[0][1].epoch == after.epoch
        recovery = await broker.recover(channel, before.position)
        assert recovery.recovered is False
    finally:
        await broker.close()


def test_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="memory://"):
        create_broker("kafka://somewhere")


async def test_a_crowd_joining_at_once_is_all_present(backend: tuple[Broker, Sink]) -> None:
    """300 subscribers arriving together (a reconnect storm) are all in presence, none lost.

    redis-py's default pool refused commands past 100 connections ("Too many connections"), and a
    presence join swallows Redis errors, so a crowd lost members silently (issue 19).
    """
    broker, _ = backend
    channel = channel_name()
    await asyncio.gather(
        *(broker.presence_join(channel, f"c{i}", {"id": i, "name": f"u{i}"}) for i in range(300))
    )
    assert sorted(user["id"] for user in await broker.presence(channel)) == list(range(300))


async def test_joins_and_leaves_of_one_step_end_as_they_would_one_by_one(
    backend: tuple[Broker, Sink],
) -> None:
    """Over Redis a step's presence writes go out as one HSET and one HDEL per channel (a storm's joins
    cost a few commands, issue 19); what they leave behind is what they would leave one at a time."""
    broker, _ = backend
    first, second = channel_name(), channel_name()
    sent: list[tuple[str, str]] = []
    redis = getattr(broker, "_redis", None)
    if redis is not None:  # record the commands of every pipeline the broker sends
        pipeline = redis.pipeline

        def recording(*args: Any, **kwargs: Any) -> Any:
            pipe = pipeline(*args, **kwargs)
            execute_command = pipe.execute_command

            def record(*command: Any, **options: Any) -> Any:
                sent.append((command[0], command[1]))
                return execute_command(*command, **options)

            pipe.execute_command = record
            return pipe

        redis.pipeline = recording
    await asyncio.gather(
        *(
            broker.presence_join(channel, f"c{i}", {"id": i})
            for i in range(300)
            for channel in (first, second)
        ),
        broker.presence_leave(first, "c7"),  # after its join, in the same step: gone
        broker.presence_join(first, "c7", {"id": 7000}),  # and back as someone else: the last one counts
        broker.presence_leave(second, "c8"),
    )
    assert sorted(u["id"] for u in await broker.presence(first)) == sorted([*range(7), *range(8, 300), 7000])
    assert sorted(u["id"] for u in await broker.presence(second)) == [i for i in range(300) if i != 8]
    if redis is not None:
        key = "cc:hub:{%s}:presence"
        assert sorted(sent) == sorted([("HSET", key % first), ("HSET", key % second), ("HDEL", key % second)])


async def test_identical_recoveries_at_once_share_one_read(backend: tuple[Broker, Sink]) -> None:
    """A reconnect storm's recoveries of one channel: each gets the whole gap; over Redis they share one
    read and the same Message objects (so each frame is built once, issue 19), and an error reaches each
    caller as its own exception."""
    broker, _ = backend
    channel = channel_name()
    epoch = (await broker.publish(channel, {"type": "t", "n": 0})).message.epoch
    for n in range(1, 5):
        await broker.publish(channel, {"type": "t", "n": n})
    recoveries = await asyncio.gather(*(broker.recover(channel, Position(1, epoch)) for _ in range(200)))
    assert all(r.recovered is True for r in recoveries)
    assert all([m.offset for m in r.messages] == [2, 3, 4, 5] for r in recoveries)
    if isinstance(broker, RedisBroker):
        assert len({id(r.messages[0]) for r in recoveries}) == 1, "the same range was read and decoded again"

        reads: list[int] = []

        async def unavailable(*range_asked: Any) -> Any:
            reads.append(1)
            await asyncio.sleep(0)  # under way while the other callers ask
            raise BrokerUnavailable("Redis unavailable during history: connection refused")

        broker._read_history = unavailable  # type: ignore[method-assign]
        errors = await asyncio.gather(
            *(broker.recover(channel, Position(1, epoch)) for _ in range(3)), return_exceptions=True
        )
        assert reads == [1] and all(isinstance(e, BrokerUnavailable) for e in errors)
        assert len({id(e) for e in errors}) == 3, "one exception object raised in every caller"


async def test_a_redis_that_stops_answering_is_a_bounded_wait(private_redis: RedisServer) -> None:
    """A Redis that stops answering without closing its connections (a stopped process, a partition that
    sends no reset): recoveries and publishes end with BrokerUnavailable within ``retry_seconds`` (the hub
    then closes with 1013 and clients come back) instead of holding their callers for good, presence
    writes give up, and everything works again once Redis answers."""
    broker = RedisBroker(private_redis.url, history_size=20, retry_seconds=1.0)
    sink = Sink()
    await broker.start(sink.deliver, sink.reset)
    process = private_redis.proc
    assert process is not None
    try:
        channel = channel_name()
        epoch = (await broker.publish(channel, {"type": "t", "n": 0})).message.epoch
        await broker.publish(channel, {"type": "t", "n": 1})
        process.send_signal(signal.SIGSTOP)
        try:
            # The bound is the broker's; wait_for only turns a hang into a failure instead of a stuck test.
            for attempt in (
                broker.recover(channel, Position(0, epoch)),
                broker.publish(channel, {"type": "t", "n": 2}, idempotency_key="after-the-stop"),
            ):
                with pytest.raises(BrokerUnavailable):
                    await asyncio.wait_for(attempt, 30)
            await asyncio.wait_for(broker.presence_join(channel, "c1", {"id": 1}), 30)  # gives up quietly
        finally:
            process.send_signal(signal.SIGCONT)
        recovery = await asyncio.wait_for(broker.recover(channel, Position(0, epoch)), 30)
        assert recovery.recovered is True and [m.offset for m in recovery.messages][:2] == [1, 2]
        await broker.presence_join(channel, "c2", {"id": 2})
        assert {u["id"] for u in await broker.presence(channel)} >= {2}
    finally:
        await broker.close()
