"""Publishes in flight and batched round trips (``acks.py``, ``broker/batch.py``; issue 19).

Over Redis a publisher's messages used to wait for each other, one round trip each. Now the op loop
starts a publish and reads on, and the broker sends a step's publishes as one batch. These tests hold
the guarantees that made the old way simple: offsets in request order, acks in request order, any other
answer after the acks before it, one batch in flight at a time, a failed batch failing each of its items.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence

import pytest

from command_center.hub.broker.base import BrokerUnavailable
from command_center.hub.broker.batch import StepBatcher
from command_center.hub.broker.redis import RedisBroker
from tests.command_center.hub.conftest import RedisServer
from tests.command_center.hub.helpers import ServerProcess, authed, recv


async def test_a_step_of_submissions_is_one_batch_and_batches_never_overlap() -> None:
    sent: list[list[int]] = []
    in_flight = 0
    release = asyncio.Event()

    async def send(items: Sequence[int]) -> list[int]:
        nonlocal in_flight
        in_flight += 1
        assert in_flight == 1, "a batch left while the previous one was on the wire"
        sent.append(list(items))
        await release.wait()
        in_flight -= 1
        return [item * 10 for item in items]

    batcher: StepBatcher[int, int] = StepBatcher(send)
    first = [batcher.submit(i) for i in range(3)]
    await asyncio.sleep(0)  # the batch leaves at the end of the step
    later = [batcher.submit(i) for i in range(3, 6)]  # while the first is on the wire
    release.set()
    assert await asyncio.gather(*first, *later) == [0, 10, 20, 30, 40, 50]
    assert sent == [[0, 1, 2], [3, 4, 5]]


async def test_identical_reads_not_sent_yet_share_one_item_and_each_caller_its_own_answer() -> None:
    sent: list[list[str]] = []
    release = asyncio.Event()

    async def send(items: Sequence[str]) -> list[str]:
        sent.append(list(items))
        await release.wait()
        return [item.upper() for item in items]

    batcher: StepBatcher[str, str] = StepBatcher(send)
    first = [batcher.submit("pos-a", same_as="a") for _ in range(3)] + [batcher.submit("pos-b", same_as="b")]
    first[0].cancel()  # one caller gives up: the others still get their answer
    await asyncio.sleep(0)  # the batch leaves
    later = batcher.submit("pos-a", same_as="a")  # asked after the read was sent: a read of its own
    release.set()
    assert await asyncio.gather(*first[1:], later) == ["POS-A", "POS-A", "POS-B", "POS-A"]
    assert sent == [["pos-a", "pos-b"], ["pos-a"]]


async def test_callers_of_a_shared_read_that_failed_each_get_their_own_exception() -> None:
    """One exception object raised in a thousand tasks would carry all their frames in one traceback."""

    async def send(items: Sequence[str]) -> list[str]:
        raise BrokerUnavailable("down")

    batcher: StepBatcher[str, str] = StepBatcher(send)
    futures = [batcher.submit("pos-a", same_as="a") for _ in range(3)]
    await asyncio.wait(futures)
    errors = [future.exception() for future in futures]
    assert all(isinstance(e, BrokerUnavailable) and str(e) == "down" for e in errors)
    assert len({id(e) for e in errors}) == 3


async def test_redis_recoveries_of_one_channel_in_one_step_cost_one_read_each(
    private_redis: RedisServer,
) -> None:
    """A reconnect storm: every client recovers the same channel from the same offset at about once."""
    broker = RedisBroker(private_redis.url)
    channel = f"board-storm-{uuid.uuid4().hex[:8]}"

    async def calls() -> dict[str, int]:
        stats = await broker._redis.info("commandstats")
        return {c: int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "xrange")}

    try:
        await broker.publish(channel, {"type": "t", "n": 0})
        start = await broker.position(channel)
        for n in range(1, 11):
            await broker.publish(channel, {"type": "t", "n": n})
        before = await calls()
        recoveries = await asyncio.gather(*(broker.recover(channel, start) for _ in range(200)))
        after = await calls()
        assert (after["evalsha"] - before["evalsha"], after["xrange"] - before["xrange"]) == (1, 1)
        for recovery in recoveries:
            assert recovery.recovered is True
            assert [m.data["n"] for m in recovery.messages] == list(range(1, 11))
    finally:
        await broker.close()


async def test_a_failed_batch_fails_each_item_and_the_next_batch_goes_on() -> None:
    calls = 0

    async def send(items: Sequence[str]) -> list[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise BrokerUnavailable("down")
        return list(items)

    batcher: StepBatcher[str, str] = StepBatcher(send)
    failed = [batcher.submit("a"), batcher.submit("b")]
    for future in failed:
        with pytest.raises(BrokerUnavailable):
            await future
    assert await batcher.submit("c") == "c"


async def test_redis_publishes_of_one_step_keep_order_and_survive_a_script_flush(
    private_redis: RedisServer,
) -> None:
    broker = RedisBroker(private_redis.url)
    channel = f"board-pipelined-{uuid.uuid4().hex[:8]}"
    try:
        first = await asyncio.gather(*(broker.publish(channel, {"type": "t", "n": n}) for n in range(50)))
        assert [r.message.offset for r in first] == list(range(1, 51))
        assert [r.message.data["n"] for r in first] == list(range(50))
        await broker._redis.script_flush()  # as after a restart: the batch loads it again
        again = await broker.publish_many([(channel, {"type": "t", "n": 50}, uuid.uuid4().hex)] * 2)
        assert [(r.message.offset, r.duplicate) for r in again] == [(51, False), (51, True)]
    finally:
        await broker.close()


async def test_a_step_of_redis_publishes_is_one_command(private_redis: RedisServer) -> None:
    """One script call for a step's publishes, not one per message (redis-py's cost per command)."""
    broker = RedisBroker(private_redis.url)
    channels = [f"board-one-call-{uuid.uuid4().hex[:8]}-{n}" for n in range(3)]

    async def evalsha_calls() -> int:
        stats = await broker._redis.info("commandstats")
        return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))

    try:
        await broker.publish(channels[0], {"type": "t"})  # loads the script
        before = await evalsha_calls()
        key = uuid.uuid4().hex
        results = await broker.publish_many(
            [(channels[n % 3], {"type": "t", "n": n}, f"{key}{n}") for n in range(30)]
            + [(channels[0], {"type": "t", "n": 0}, f"{key}0")]  # a repeat within the batch
        )
        assert await evalsha_calls() == before + 1
        assert [r.message.offset for r in results[:6]] == [2, 1, 1, 3, 2, 2]
        assert [r.message.data["n"] for r in results[:30]] == list(range(30))
        assert (results[30].duplicate, results[30].message.frame) == (True, results[0].message.frame)
    finally:
        await broker.close()


@pytest.mark.parametrize("broker", ["memory://", "redis"])
async def test_acks_and_answers_leave_in_request_order(broker: str, redis_url: str) -> None:
    server = ServerProcess("--broker", redis_url if broker == "redis" else broker)
    server.start()
    try:
        ws = await authed(server.ws)
        channel, run = f"taskforce:open-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
        frames = [
            {"op": "publish", "channel": channel, "id": f"{run}{n}", "data": {"type": "note", "n": n}}
            for n in range(40)
        ]
        frames.insert(20, {"op": "ping"})
        frames.append({"op": "publish", "channel": "nope!", "id": "bad", "data": {"type": "note"}})
        frames.append({"op": "ping"})
        for frame in frames:  # all at once: the server reads on while the first ones are stored
            await ws.send(json.dumps(frame))
        answers = [await recv(ws) for _ in frames]
        kinds = [a.get("id", a["op"]) if a["op"] != "error" else ("error", a["ref"]) for a in answers]
        expected = [f"{run}{n}" for n in range(20)] + ["pong"] + [f"{run}{n}" for n in range(20, 40)]
        assert kinds == [*expected, ("error", "bad"), "pong"]
        offsets = [a["offset"] for a in answers if a["op"] == "ack"]
        assert offsets == list(range(offsets[0], offsets[0] + 40))
        await ws.close()
    finally:
        server.stop()
