"""The frames, errors and close codes of DESIGN.md section 4, against a real server process."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from websockets.exceptions import ConnectionClosed

from tests.command_center.hub.helpers import ServerProcess, authed, open_ws, recv, request

pytestmark = pytest.mark.timeout(120)


def _channel(prefix: str = "taskforce") -> str:
    # Fresh channels per test so the session-wide server's history does not leak between tests.
    return f"{prefix}:9" if prefix == "taskforce" else f"{prefix}:{uuid.uuid4().hex[:8]}"


async def _closed_code(ws, limit: int = 100) -> int:  # type: ignore[no-untyped-def]
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(limit):
            await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None
    return info.value.rcvd.code


async def test_welcome_carries_the_user(memory_server: ServerProcess) -> None:
    ws = await open_ws(memory_server.ws)
    await ws.send(json.dumps({"op": "auth", "token": "tok-carol"}))
    assert await recv(ws) == {
        "op": "welcome",
        "user": {"id": 3, "name": "carol", "role": "liaison", "department": "police"},
    }
    assert await request(ws, {"op": "ping"}) == {"op": "pong"}
    await ws.close()


@pytest.mark.parametrize(
    "first",
    [
        '{"op":"auth","token":"wrong"}',
        '{"op":"publish","channel":"taskforce:9","id":"x","data":{"type":"t"}}',
        "not json",
        '{"op":"auth"}',
        '{"op":"subscribe","channel":"board"}',
    ],
    ids=["bad-token", "publish-before-auth", "non-json", "missing-token", "subscribe-before-auth"],
)
async def test_first_frame_must_authenticate(memory_server: ServerProcess, first: str) -> None:
    ws = await open_ws(memory_server.ws)
    await ws.send(first)
    assert await _closed_code(ws) == 4401


async def test_silence_closes_with_4401_after_the_auth_timeout(memory_server: ServerProcess) -> None:
    ws = await open_ws(memory_server.ws)  # the test server allows 1 s
    assert await _closed_code(ws) == 4401


@pytest.mark.parametrize(
    ("frame", "code", "ref"),
    [
        ("{not json", "bad_request", None),
        ("[1, 2]", "bad_request", None),
        ('{"op":"teleport"}', "bad_request", None),
        ('{"channel":"board"}', "bad_request", None),
        ('{"op":"subscribe"}', "bad_request", None),
        ('{"op":"subscribe","channel":"Board!"}', "bad_request", None),
        ('{"op":"subscribe","channel":"board","since":{"offset":"x"}}', "bad_request", None),
        ('{"op":"publish","channel":"taskforce:9","data":{"type":"t"}}', "bad_request", None),
        ('{"op":"publish","channel":"taskforce:9","id":"p1"}', "bad_request", "p1"),
        ('{"op":"publish","channel":"taskforce:9","id":"p2","data":{"no":"type"}}', "bad_request", "p2"),
        ('{"op":"publish","id":"p3","data":{"type":"t"}}', "bad_request", "p3"),
        ('{"op":"subscribe","channel":"weather"}', "unknown_channel", None),
        ('{"op":"subscribe","channel":"board:7"}', "unknown_channel", None),
        ('{"op":"subscribe","channel":"incident"}', "unknown_channel", None),
        ('{"op":"presence","channel":"weather"}', "unknown_channel", None),
        ('{"op":"publish","channel":"weather","id":"p4","data":{"type":"t"}}', "unknown_channel", "p4"),
        ('{"op":"subscribe","channel":"taskforce:2"}', "forbidden", None),
        ('{"op":"publish","channel":"taskforce:2","id":"p5","data":{"type":"t"}}', "forbidden", "p5"),
        (
            '{"op":"publish","channel":"board","id":"p6","data":{"type":"incident.created"}}',
            "forbidden",
            "p6",
        ),
        ('{"op":"publish","channel":"ledger","id":"p7","data":{"type":"x"}}', "forbidden", "p7"),
        ('{"op":"subscribe","channel":"user:4"}', "forbidden", None),
        ('{"op":"publish","channel":"user:4","id":"p8","data":{"type":"order.issued"}}', "forbidden", "p8"),
        ('{"op":"subscribe","channel":"drill:1"}', "forbidden", None),
        ('{"op":"presence","channel":"taskforce:2"}', "forbidden", None),
        ('{"op":"unsubscribe","channel":"board"}', "not_subscribed", None),
        ('{"op":"auth","token":"tok-carol"}', "bad_request", None),
    ],
)
async def test_bad_frames_get_an_error_and_the_connection_keeps_working(
    memory_server: ServerProcess, frame: str, code: str, ref: str | None
) -> None:
    ws = await authed(memory_server.ws, "tok-carol")  # a police liaison: task forces 1 and 9, not 2
    answer = await request(ws, frame)
    assert answer["op"] == "error"
    assert (answer["code"], answer["ref"]) == (code, ref), answer
    assert isinstance(answer["detail"], str) and answer["detail"]
    assert await request(ws, {"op": "ping"}) == {"op": "pong"}
    await ws.close()


async def test_binary_and_oversized_frames(memory_server: ServerProcess) -> None:
    ws = await authed(memory_server.ws)
    await ws.send(b"\x00\x01")
    answer = await recv(ws)
    assert (answer["op"], answer["code"]) == ("error", "bad_request")
    big = json.dumps(
        {"op": "publish", "channel": "taskforce:9", "id": "big", "data": {"type": "t", "x": "y" * 5000}}
    )
    answer = await request(ws, big)  # the test server's limit is 4096 bytes
    assert (answer["op"], answer["code"], answer["ref"]) == ("error", "too_large", None)
    # Multi-byte characters count as bytes: 1,500 x 3 bytes > 4,096.
    answer = await request(ws, json.dumps({"op": "ping", "pad": "中" * 1500}, ensure_ascii=False))
    assert answer["code"] == "too_large"
    assert await request(ws, {"op": "ping"}) == {"op": "pong"}
    await ws.close()


async def test_denials_are_audited(memory_server: ServerProcess) -> None:
    ws = await authed(memory_server.ws, "tok-dave")  # fire rescue liaison, not in task force 1
    answer = await request(ws, {"op": "subscribe", "channel": "taskforce:1"})
    assert answer["code"] == "forbidden"
    answer = await request(ws, {"op": "publish", "channel": "board", "id": 1, "data": {"type": "x"}})
    assert (answer["code"], answer["ref"]) == ("forbidden", 1)
    denials = await memory_server.denials()
    assert {"user": "dave", "channel": "taskforce:1", "op": "subscribe"} in denials
    assert {"user": "dave", "channel": "board", "op": "publish"} in denials
    await ws.close()


async def test_liaison_only_in_its_departments_task_forces(memory_server: ServerProcess) -> None:
    carol = await authed(memory_server.ws, "tok-carol")  # police
    assert (await request(carol, {"op": "subscribe", "channel": "taskforce:1"}))["op"] == "subscribed"
    assert (await request(carol, {"op": "subscribe", "channel": "taskforce:2"}))["code"] == "forbidden"
    dave = await authed(memory_server.ws, "tok-dave")  # fire rescue
    assert (await request(dave, {"op": "subscribe", "channel": "taskforce:2"}))["op"] == "subscribed"
    assert (await request(dave, {"op": "subscribe", "channel": "taskforce:1"}))["code"] == "forbidden"
    await carol.close()
    await dave.close()


async def test_publish_ack_offsets_and_idempotency(memory_server: ServerProcess) -> None:
    channel = "taskforce:9"
    sub = await authed(memory_server.ws, "tok-bob")
    subscribed = await request(sub, {"op": "subscribe", "channel": channel})
    assert subscribed["op"] == "subscribed" and "recovered" not in subscribed
    start, epoch = subscribed["offset"], subscribed["epoch"]
    pub = await authed(memory_server.ws, "tok-carol")
    client_id = uuid.uuid4().hex
    acks = []
    for i in range(3):
        frame = {
            "op": "publish",
            "channel": channel,
            "id": f"{client_id}-{i}",
            "data": {"type": "note", "n": i},
        }
        acks.append(await request(pub, frame))
    assert [a["offset"] for a in acks] == [start + 1, start + 2, start + 3]
    assert acks[0] == {"op": "ack", "id": f"{client_id}-0", "channel": channel, "offset": start + 1}
    # The same client id again: same offset, not published twice.
    again = await request(
        pub, {"op": "publish", "channel": channel, "id": f"{client_id}-1", "data": {"type": "note"}}
    )
    assert again["offset"] == start + 2
    received = [await recv(sub) for _ in range(3)]
    assert [m["offset"] for m in received] == [start + 1, start + 2, start + 3]
    assert all(m["op"] == "message" and m["epoch"] == epoch and m["channel"] == channel for m in received)
    carol = {"id": 3, "name": "carol", "role": "liaison", "department": "police"}
    assert received[0]["data"] == {"type": "note", "n": 0, "from": carol}
    assert received[0]["ts"].endswith("Z")
    # Nothing else arrives (the duplicate was not fanned out).
    assert await request(sub, {"op": "ping"}) == {"op": "pong"}
    await sub.close()
    await pub.close()


async def test_server_side_publish_reaches_board_subscribers(memory_server: ServerProcess) -> None:
    ws = await authed(memory_server.ws, "tok-carol")
    subscribed = await request(ws, {"op": "subscribe", "channel": "board"})
    data = {"type": "incident.created", "id": 7, "drill": True, "title": "东门聚集"}
    result = await memory_server.publish("board", data)
    message = await recv(ws)
    assert message["offset"] == subscribed["offset"] + 1 == result["offset"]
    assert message["data"] == data
    await ws.close()


async def test_user_channel_signaling_and_drill_channel(memory_server: ServerProcess) -> None:
    carol = await authed(memory_server.ws, "tok-carol")
    assert (await request(carol, {"op": "subscribe", "channel": "user:3"}))["op"] == "subscribed"
    frank = await authed(memory_server.ws, "tok-frank")
    # Nobody publishes into another person's channel (issue 11: a forged answer could pass for the server's).
    offer = {"type": "webrtc.view", "sdp": "v=0", "from": 6}
    denied = await request(frank, {"op": "publish", "channel": "user:3", "id": "o1", "data": offer})
    assert (denied["code"], denied["ref"]) == ("forbidden", "o1")
    # A request on one's own channel is published, stamped with the sender the server knows.
    await carol.send(json.dumps({"op": "publish", "channel": "user:3", "id": "o2", "data": offer}))
    frames = [await recv(carol), await recv(carol)]  # the ack and the message, in either order
    assert {f["op"] for f in frames} == {"ack", "message"}
    carol_user = {"id": 3, "name": "carol", "role": "liaison", "department": "police"}
    assert next(f for f in frames if f["op"] == "message")["data"] == {**offer, "from": carol_user}
    erin = await authed(memory_server.ws, "tok-erin")  # organizer
    assert (await request(erin, {"op": "subscribe", "channel": "drill:5"}))["op"] == "subscribed"
    denied = await request(
        erin, {"op": "publish", "channel": "drill:5", "id": "d", "data": {"type": "drill.inject"}}
    )
    assert denied["code"] == "forbidden"
    for ws in (carol, frank, erin):
        await ws.close()


async def test_unsubscribe_stops_messages(memory_server: ServerProcess) -> None:
    ws = await authed(memory_server.ws, "tok-bob")
    await request(ws, {"op": "subscribe", "channel": "ledger"})
    assert await request(ws, {"op": "unsubscribe", "channel": "ledger"}) == {
        "op": "unsubscribed",
        "channel": "ledger",
    }
    await memory_server.publish("ledger", {"type": "ledger.warning_raised", "id": 1, "drill": False})
    assert await request(ws, {"op": "ping"}) == {"op": "pong"}  # and no message before it
    await ws.close()


async def test_presence_lists_current_subscribers(memory_server: ServerProcess) -> None:
    channel = "taskforce:1"
    bob = await authed(memory_server.ws, "tok-bob")
    carol = await authed(memory_server.ws, "tok-carol")
    await request(bob, {"op": "subscribe", "channel": channel})
    await request(carol, {"op": "subscribe", "channel": channel})
    answer = await request(bob, {"op": "presence", "channel": channel})
    names = sorted(u["name"] for u in answer["users"])
    assert answer["op"] == "presence" and answer["channel"] == channel
    assert names == ["bob", "carol"]
    await carol.close()
    await asyncio.sleep(0.2)
    answer = await request(bob, {"op": "presence", "channel": channel})
    assert [u["name"] for u in answer["users"]] == ["bob"]
    await bob.close()


async def test_publish_rate_limit(memory_server: ServerProcess) -> None:
    ws = await authed(memory_server.ws, "tok-bob")  # the test server allows 20 per second
    codes = []
    for i in range(40):
        answer = await request(
            ws, {"op": "publish", "channel": "taskforce:9", "id": f"r{i}", "data": {"type": "t"}}
        )
        codes.append(answer.get("code", answer["op"]))
    assert "rate_limited" in codes
    assert codes[:10] == ["ack"] * 10
    await ws.close()


async def test_recovery_with_since(memory_server: ServerProcess) -> None:
    channel = "taskforce:1"
    ws = await authed(memory_server.ws, "tok-bob")
    subscribed = await request(ws, {"op": "subscribe", "channel": channel})
    since = {"offset": subscribed["offset"], "epoch": subscribed["epoch"]}
    await ws.close()
    offsets = [(await memory_server.publish(channel, {"type": "t", "n": i}))["offset"] for i in range(5)]
    ws = await authed(memory_server.ws, "tok-bob")
    answer = await request(ws, {"op": "subscribe", "channel": channel, "since": since})
    assert answer["recovered"] is True and answer["offset"] == offsets[-1]
    replay = [await recv(ws) for _ in range(5)]
    assert [m["offset"] for m in replay] == offsets
    assert [m["data"]["n"] for m in replay] == list(range(5))
    live = await memory_server.publish(channel, {"type": "t", "n": 5})
    assert (await recv(ws))["offset"] == live["offset"] == offsets[-1] + 1
    await ws.close()


async def test_recovery_impossible_says_recovered_false(memory_server: ServerProcess) -> None:
    channel = "taskforce:2"
    ws = await authed(memory_server.ws, "tok-dave")
    subscribed = await request(ws, {"op": "subscribe", "channel": channel})
    since = {"offset": subscribed["offset"], "epoch": subscribed["epoch"]}
    await ws.close()
    for i in range(15):  # the test server keeps 10 messages per channel
        await memory_server.publish(channel, {"type": "t", "n": i})
    ws = await authed(memory_server.ws, "tok-dave")
    answer = await request(ws, {"op": "subscribe", "channel": channel, "since": since})
    assert answer["recovered"] is False and answer["offset"] == since["offset"] + 15
    wrong_epoch = {"offset": 1, "epoch": "not-the-epoch"}
    answer = await request(ws, {"op": "subscribe", "channel": channel, "since": wrong_epoch})
    assert answer["recovered"] is False
    future = {"offset": answer["offset"] + 100, "epoch": answer["epoch"]}
    assert (await request(ws, {"op": "subscribe", "channel": channel, "since": future}))["recovered"] is False
    # The subscription is live after a failed recovery.
    live = await memory_server.publish(channel, {"type": "t"})
    assert (await recv(ws))["offset"] == live["offset"]
    await ws.close()


async def test_slow_consumer_is_closed_with_4408_and_others_are_unaffected(
    memory_server: ServerProcess,
) -> None:
    channel = "ledger"
    fast = await authed(memory_server.ws, "tok-bob")
    await request(fast, {"op": "subscribe", "channel": channel})
    # max_queue=1: the client library stops reading from the socket as soon as one message waits.
    slow = await authed(memory_server.ws, "tok-carol", max_queue=1)
    await request(slow, {"op": "subscribe", "channel": channel})
    count, batch = 512, 32  # 32 MB in all: more than loopback socket buffers + a 64-frame queue
    received = 0
    # Published a batch at a time, each read by the fast client before the next: it is never more than 32
    # frames behind, however busy the machine, while the slow one's backlog only grows. Large frames keep
    # the batches few, so the slow client reads its close within the server's close wait.
    for _ in range(count // batch):
        await memory_server.flood(channel, batch, 64_000)
        target = received + batch
        while received < target:
            if (await recv(fast, 20))["op"] == "message":
                received += 1
    assert received == count
    assert await _closed_code(slow, count) == 4408
    assert await request(fast, {"op": "ping"}) == {"op": "pong"}
    await fast.close()
